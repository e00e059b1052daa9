//! devices: being built (see its issue).
fn main() {}
