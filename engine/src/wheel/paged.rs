//! A growable array in fixed-size pages: pushing never moves what is stored, and growth never doubles the memory
//! held (the slack is at most one page), where a `Vec` at 600,000 elements may hold room for a million. Popping
//! keeps the pages, so a stack that shrinks and grows again (the arena's free slots) allocates only past its peak.
//!
//! Why raw pages rather than a `Vec` of `Vec`s: every timer the wheel touches is found through this table (a pop
//! looks up two slots, a cancel one, a cascade one per record it checks), and a `Vec` of `Vec`s makes each lookup
//! load a page's pointer and its length from a 24-byte entry and check the index against both. A page here is a
//! pointer to a fixed array, so a lookup checks the index against the array's one length and loads one 8-byte entry
//! (a third of the table's cache footprint: 19 KiB at 10 million timers, where the first-level data cache holds
//! 32–48 KiB). The price is the one invariant below, kept by this module alone: the elements before `len` are
//! initialised, those after it are not. Measured (BENCHMARKS.md, tenth pass, `wheel_parts`): a hinted cancel 3–10%
//! cheaper at 1M and 10M timers, pops and cascades unchanged; the larger gains `timers` showed were page faults.

use std::mem::MaybeUninit;

/// Elements per page: 4,096 (96 KiB pages for the wheel's 24-byte timer slots, 16 KiB for its free stack's indices).
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;

/// One page: room for [`PAGE`] elements, written in order.
type Page<T> = Box<[MaybeUninit<T>; PAGE]>;

/// An array of `T` in pages of 4,096.
///
/// Invariant: the elements at indices below `len` are initialised, and no other is; `pages` covers them all.
pub(super) struct Paged<T> {
    pages: Vec<Page<T>>,
    len: usize,
}

impl<T> Paged<T> {
    pub(super) fn new() -> Paged<T> {
        Paged { pages: Vec::new(), len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Allocates the pages for `additional` more elements now, so that pushing them allocates nothing.
    pub(super) fn reserve(&mut self, additional: usize) {
        let pages = (self.len + additional).div_ceil(PAGE);
        while self.pages.len() < pages {
            self.add_page();
        }
    }

    /// Appends `value`.
    #[inline]
    pub(super) fn push(&mut self, value: T) {
        let page = self.len >> PAGE_BITS;
        if page == self.pages.len() {
            self.add_page();
        }
        self.pages[page][self.len & (PAGE - 1)].write(value);
        self.len += 1;
    }

    /// Allocates one more page (out of the way of [`push`](Self::push), which needs one per 4,096 elements). Its
    /// memory is not written: the system hands it over untouched until the pushes reach it.
    #[cold]
    #[inline(never)]
    fn add_page(&mut self) {
        let page: Box<[MaybeUninit<T>]> = Box::new_uninit_slice(PAGE);
        let Ok(page) = page.try_into() else { unreachable!("a slice of {PAGE} converts to an array of {PAGE}") };
        self.pages.push(page);
    }

    /// Removes the last element and returns it, if there is one. Its page keeps its memory, for the pushes to come.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        self.len = last;
        let slot = &self.pages[last >> PAGE_BITS][last & (PAGE - 1)];
        // SAFETY: `last` was below `len`, so the element is initialised; `len` no longer covers it, so it is read
        // out once and never again (nor dropped) until a push writes it anew.
        Some(unsafe { slot.assume_init_read() })
    }

    /// The element at `index`, if there is one.
    #[inline]
    pub(super) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let slot = &self.pages[index >> PAGE_BITS][index & (PAGE - 1)];
        // SAFETY: `index` is below `len`, so the element is initialised.
        Some(unsafe { slot.assume_init_ref() })
    }

    /// The element at `index`, mutably, if there is one.
    #[inline]
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len {
            return None;
        }
        let slot = &mut self.pages[index >> PAGE_BITS][index & (PAGE - 1)];
        // SAFETY: `index` is below `len`, so the element is initialised.
        Some(unsafe { slot.assume_init_mut() })
    }

    /// Every element, the last first; each page is freed once its elements have been read, and the ones not read
    /// are dropped with the iterator.
    pub(super) fn into_iter(mut self) -> impl Iterator<Item = T> {
        std::iter::from_fn(move || {
            let value = self.pop()?;
            if self.len & (PAGE - 1) == 0 {
                self.pages.truncate(self.len >> PAGE_BITS); // a page read out: its memory goes now
            }
            Some(value)
        })
    }

    /// Bytes held: every page's full capacity, and the page table.
    pub(super) fn held_bytes(&self) -> usize {
        self.pages.len() * PAGE * std::mem::size_of::<T>() + self.pages.capacity() * std::mem::size_of::<Page<T>>()
    }
}

/// The elements, as a list (the pages' unwritten room is not shown).
impl<T: std::fmt::Debug> std::fmt::Debug for Paged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..self.len).map(|index| &self[index])).finish()
    }
}

impl<T> Drop for Paged<T> {
    fn drop(&mut self) {
        if std::mem::needs_drop::<T>() {
            while self.pop().is_some() {}
        }
    }
}

impl<T> std::ops::Index<usize> for Paged<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        self.get(index).unwrap_or_else(|| panic!("index {index} past the {} elements", self.len))
    }
}

impl<T> std::ops::IndexMut<usize> for Paged<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        let len = self.len;
        self.get_mut(index).unwrap_or_else(|| panic!("index {index} past the {len} elements"))
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::{PAGE, Paged};

    #[test]
    fn elements_stay_put_across_pages_and_pop_last_first() {
        let mut paged = Paged::new();
        for i in 0..2 * PAGE + 5 {
            paged.push(i);
        }
        assert_eq!(paged.len(), 2 * PAGE + 5);
        assert_eq!(paged.get(PAGE), Some(&PAGE));
        assert_eq!(paged.get(2 * PAGE + 5), None, "past the end, even inside the last page");
        *paged.get_mut(3).unwrap() = 30;
        assert_eq!(paged[3], 30);
        assert_eq!(paged.pop(), Some(2 * PAGE + 4));
        assert_eq!(paged.get(2 * PAGE + 4), None, "a popped element is gone");
        paged.push(7);
        assert_eq!(paged[2 * PAGE + 4], 7);
        let all: Vec<usize> = paged.into_iter().collect();
        assert_eq!(all.len(), 2 * PAGE + 5);
        assert_eq!((all[0], all[all.len() - 4]), (7, 30));
    }

    #[test]
    fn debug_shows_the_elements_only() {
        let mut paged = Paged::new();
        paged.push(1);
        paged.push(2);
        assert_eq!(format!("{paged:?}"), "[1, 2]");
    }

    #[test]
    fn every_element_is_dropped_once_whether_read_out_or_not() {
        let counted = Rc::new(());
        let mut paged = Paged::new();
        for _ in 0..PAGE + 10 {
            paged.push(Rc::clone(&counted));
        }
        drop(paged.pop());
        let mut values = paged.into_iter();
        for _ in 0..20 {
            drop(values.next());
        }
        assert_eq!(Rc::strong_count(&counted), 1 + PAGE + 10 - 21);
        drop(values);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}
