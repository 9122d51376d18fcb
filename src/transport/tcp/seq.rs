//! TCP sequence-number arithmetic (RFC 793 modulo 2^32) in one newtype, so reassembly code never
//! does bare `u32` sequence math.

use std::ops::Add;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self`, valid while the two are within 2^31 of each other.
    pub fn distance_from(self, other: SeqNumber) -> i64 {
        self.0.wrapping_sub(other.0) as i32 as i64
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_crosses_the_wrap_around() {
        let near_end = SeqNumber(u32::MAX - 9);
        assert_eq!((near_end + 20).distance_from(near_end), 20);
        assert_eq!(near_end.distance_from(near_end + 20), -20);
        assert_eq!((near_end + 20).0, 10);
    }
}
