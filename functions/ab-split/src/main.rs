//! ab-split: being built (see its issue).
fn main() {}
