//! A growable array in fixed-size pages: pushing never moves what is stored, and growth never doubles the memory
//! held (the slack is at most one page), where a `Vec` at 600,000 elements may hold room for a million. Popping
//! keeps the pages, so a stack that shrinks and grows again (the arena's free slots) allocates only past its peak.

/// Elements per page: 4,096 (96 KiB pages for the wheel's 24-byte timer slots, 16 KiB for its free stack's indices).
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;

/// An array of `T` in pages of 4,096.
#[derive(Debug)]
pub(super) struct Paged<T> {
    pages: Vec<Vec<T>>,
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
            self.pages.push(Vec::with_capacity(PAGE));
        }
    }

    /// Appends `value`.
    #[inline]
    pub(super) fn push(&mut self, value: T) {
        let page = self.len >> PAGE_BITS;
        if page == self.pages.len() {
            self.add_page();
        }
        self.pages[page].push(value);
        self.len += 1;
    }

    /// Allocates one more page (out of the way of [`push`](Self::push), which needs one per 4,096 elements).
    #[cold]
    #[inline(never)]
    fn add_page(&mut self) {
        self.pages.push(Vec::with_capacity(PAGE));
    }

    /// Removes the last element and returns it, if there is one. Its page keeps its memory, for the pushes to come.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        self.len = last;
        self.pages[last >> PAGE_BITS].pop()
    }

    /// The element at `index`, if there is one.
    #[inline]
    pub(super) fn get(&self, index: usize) -> Option<&T> {
        self.pages.get(index >> PAGE_BITS)?.get(index & (PAGE - 1))
    }

    /// The element at `index`, mutably, if there is one.
    #[inline]
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.pages.get_mut(index >> PAGE_BITS)?.get_mut(index & (PAGE - 1))
    }

    /// Every element in index order, each page freed once it has been read.
    pub(super) fn into_iter(self) -> impl Iterator<Item = T> {
        self.pages.into_iter().flatten()
    }

    /// Bytes held: every page's full capacity, and the page table.
    pub(super) fn held_bytes(&self) -> usize {
        self.pages.len() * PAGE * std::mem::size_of::<T>() + self.pages.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

impl<T> std::ops::Index<usize> for Paged<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        &self.pages[index >> PAGE_BITS][index & (PAGE - 1)]
    }
}

impl<T> std::ops::IndexMut<usize> for Paged<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.pages[index >> PAGE_BITS][index & (PAGE - 1)]
    }
}
