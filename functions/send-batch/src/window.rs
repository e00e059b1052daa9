//! The batches a link has read and not yet finished, in file order, and
//! the low-water mark: the position below which every entry is finished.
//! Batches finish in any order (a retried request holds back only its
//! own); the checkpoint moves past a batch only once every batch before
//! it has finished, so a crash resends at most the batches still open.

use std::collections::VecDeque;

/// Where the reader stood after a batch: the next entry's offset and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub offset: u64,
    pub line: u64,
}

struct Slot<T> {
    end: Position,
    finished: bool,
    batch: T,
}

/// Open batches, each known by the id `open` gave it.
pub struct Window<T> {
    slots: VecDeque<Slot<T>>,
    /// The id of the oldest open batch.
    front: u64,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window { slots: VecDeque::new(), front: 0 }
    }
}

impl<T> Window<T> {
    /// Opens the batch that ends at `end`; returns its id.
    pub fn open(&mut self, end: Position, batch: T) -> u64 {
        self.slots.push_back(Slot { end, finished: false, batch });
        self.front + self.slots.len() as u64 - 1
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// An open batch; None for one already committed.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let i = usize::try_from(id.checked_sub(self.front)?).ok()?;
        self.slots.get_mut(i).map(|s| &mut s.batch)
    }

    pub fn finish(&mut self, id: u64) {
        let i = id.checked_sub(self.front).and_then(|i| usize::try_from(i).ok());
        if let Some(slot) = i.and_then(|i| self.slots.get_mut(i)) {
            slot.finished = true;
        }
    }

    /// The oldest batch, once it and so everything before it is finished,
    /// with the position the low-water mark moves to.
    pub fn commit(&mut self) -> Option<(T, Position)> {
        if !self.slots.front()?.finished {
            return None;
        }
        let slot = self.slots.pop_front()?;
        self.front += 1;
        Some((slot.batch, slot.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> Position {
        Position { offset, line: offset / 10 }
    }

    #[test]
    fn the_mark_waits_for_the_oldest_batch_and_then_catches_up() {
        let mut w = Window::default();
        let a = w.open(at(100), "a");
        let b = w.open(at(200), "b");
        let c = w.open(at(300), "c");
        w.finish(b);
        w.finish(c);
        assert!(w.commit().is_none(), "a slow first batch holds the mark, not the others");
        assert_eq!(w.len(), 3);
        w.finish(a);
        assert_eq!(w.commit(), Some(("a", at(100))));
        assert_eq!(w.commit(), Some(("b", at(200))));
        assert_eq!(w.commit(), Some(("c", at(300))));
        assert!(w.commit().is_none() && w.is_empty());
        assert!(w.get_mut(b).is_none(), "a committed batch is gone");
        let d = w.open(at(400), "d");
        assert_eq!(d, 3, "ids keep counting");
        assert_eq!(w.get_mut(d), Some(&mut "d"));
    }
}
