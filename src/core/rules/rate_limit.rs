//! A token bucket (per client, per resume token, per room): `burst` frames at once, refilled at
//! `per_sec` frames a second. Pure arithmetic on a caller-supplied clock in
//! milliseconds, so the room core stays deterministic and testable.

/// One connection's allowance.
#[derive(Debug, Clone)]
pub(crate) struct RateBucket {
    /// Tokens available, in thousandths of a frame.
    milli_tokens: u64,
    capacity: u64,
    per_sec: u64,
    last_ms: u64,
}

impl RateBucket {
    /// A full bucket.
    pub(crate) fn new(burst: u32, per_sec: u32, now_ms: u64) -> Self {
        let capacity = u64::from(burst.max(1)) * 1000;
        RateBucket {
            milli_tokens: capacity,
            capacity,
            per_sec: u64::from(per_sec.max(1)),
            last_ms: now_ms,
        }
    }

    /// Takes one token, or says how many milliseconds until one is there.
    pub(crate) fn take(&mut self, now_ms: u64) -> Result<(), u64> {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.milli_tokens = (self.milli_tokens + elapsed * self.per_sec).min(self.capacity);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            Ok(())
        } else {
            Err((1000 - self.milli_tokens).div_ceil(self.per_sec))
        }
    }

    /// Whether the bucket has refilled completely by `now_ms`: it then
    /// says nothing a new bucket would not.
    pub(crate) fn is_full(&self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.milli_tokens + elapsed.saturating_mul(self.per_sec) >= self.capacity
    }

    /// When a token was last asked for.
    pub(crate) fn last_ms(&self) -> u64 {
        self.last_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let mut bucket = RateBucket::new(3, 10, 0);
        assert!(bucket.take(0).is_ok());
        assert!(bucket.take(0).is_ok());
        assert!(bucket.take(0).is_ok());
        assert_eq!(bucket.take(0), Err(100));
        assert_eq!(bucket.take(40), Err(60));
        assert!(bucket.take(100).is_ok());
        assert!(bucket.take(100).is_err());
        // A long pause refills only up to the burst.
        for _ in 0..3 {
            assert!(bucket.take(60_000).is_ok());
        }
        assert!(bucket.take(60_000).is_err());
    }
}
