//! Choosing a run of free loopback ports for one stack.

use std::net::TcpListener;

use pushbatch::local::Ports;

/// First port of a run of `Ports::SPAN` consecutive ports that are all free
/// on 127.0.0.1 right now. Candidates come from a random start below the
/// kernel's ephemeral range (so outgoing connections do not take them while
/// the stack starts), which keeps parallel tests apart.
pub fn free_port_base() -> anyhow::Result<u16> {
    const LOW: u16 = 15_000;
    const HIGH: u16 = 32_000;
    let span = Ports::SPAN;
    let slots = (HIGH - LOW) / span;
    let first_slot: u16 = rand::random_range(0..slots);
    for step in 0..slots {
        let base = LOW + ((first_slot + step) % slots) * span;
        let all_free = (base..base + span).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    anyhow::bail!("no run of {span} free ports between {LOW} and {HIGH}")
}
