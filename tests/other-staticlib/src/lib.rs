//! A second Rust static library, as another vendor's would be: it allocates, formats, and catches a panic, so it
//! brings its own copy of the Rust runtime into the program, as libtaskwheel.a does.

/// The sum of the decimal digits of `n`.
#[unsafe(no_mangle)]
pub extern "C" fn other_sum_of_digits(n: u64) -> u64 {
    let text = format!("{n}");
    std::panic::catch_unwind(|| text.bytes().map(|b| u64::from(b - b'0')).sum()).unwrap_or(0)
}
