//! The sender's side of the go-back-N window over `Observe` requests
//! (docs/protocol.md §4), and the window limit both ends agree on.
//!
//! Requests carry `seq` = row index. The device absorbs them strictly in
//! `seq` order and answers a repeat of any of its last [`MAX_WINDOW`]
//! answered `seq`s from a cache, so a sender may keep up to
//! [`MAX_WINDOW`] requests in flight and repair any loss by going back to
//! the first unanswered row and resending from there.

/// Most observations a host may keep in flight, and so the number of
/// answers a device keeps for repeated `seq`s.
pub const MAX_WINDOW: usize = 64;

/// Which rows to send next, for rows `first..` of a stream.
///
/// # Examples
/// ```
/// use hsmoe_core::window::SendWindow;
/// let mut window = SendWindow::new(0, 4);
/// // Row 0 goes alone: a device takes any `seq` first after a reset.
/// assert_eq!(window.next_to_send(10), Some(0));
/// assert!(!window.mark_sent());
/// assert_eq!(window.next_to_send(10), None);
/// window.advance(|row| row == 0, 10);
/// assert_eq!(window.base(), 1);
/// // Then up to four in flight.
/// while window.next_to_send(10).is_some() {
///     window.mark_sent();
/// }
/// assert_eq!(window.in_flight(), 1..5);
/// // A lost answer: go back to row 1 and send again (a resend).
/// window.go_back();
/// assert_eq!(window.next_to_send(10), Some(1));
/// assert!(window.mark_sent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendWindow {
    /// The first unanswered row.
    base: usize,
    /// The next row to send.
    next: usize,
    /// One past the highest row ever sent.
    sent: usize,
    /// Most rows in flight.
    size: usize,
    /// Whether the window already went back for the current `base`.
    rewound: bool,
}

impl SendWindow {
    /// A window over rows `first..` with at most `size` in flight
    /// (at least 1).
    pub const fn new(first: usize, size: usize) -> Self {
        SendWindow {
            base: first,
            next: first,
            sent: first,
            size: if size == 0 { 1 } else { size },
            rewound: false,
        }
    }

    /// The first unanswered row.
    pub const fn base(&self) -> usize {
        self.base
    }

    /// One past the highest row ever sent.
    pub const fn sent(&self) -> usize {
        self.sent
    }

    /// The rows sent and not yet answered.
    pub const fn in_flight(&self) -> core::ops::Range<usize> {
        self.base..self.next
    }

    /// The row to send now, if the window has room and it lies before
    /// `end`. Row 0 goes alone: a device takes any `seq` as its first after
    /// a reset, so a lost row 0 must not let row 1 in first.
    pub fn next_to_send(&self, end: usize) -> Option<usize> {
        let limit = if self.base == 0 { 1 } else { self.size };
        (self.next < end && self.next < self.base + limit).then_some(self.next)
    }

    /// Records that the row [`next_to_send`](Self::next_to_send) returned
    /// was sent; returns whether it was a resend.
    pub fn mark_sent(&mut self) -> bool {
        let resend = self.next < self.sent;
        if !resend {
            self.sent = self.next + 1;
        }
        self.next += 1;
        resend
    }

    /// Goes back to `base` (after a timeout): every row in flight is sent
    /// again.
    pub fn go_back(&mut self) {
        self.next = self.base;
    }

    /// Goes back to `base` once per `base` (after a damaged request or a
    /// gap the device reported): one loss must not trigger a resend per
    /// answer that follows it.
    pub fn go_back_once(&mut self) {
        if !self.rewound {
            (self.next, self.rewound) = (self.base, true);
        }
    }

    /// Whether an answer to `row` is one this window waits for (not stale,
    /// not for a row never sent).
    pub const fn awaits(&self, row: usize) -> bool {
        row >= self.base && row < self.next
    }

    /// Moves `base` past every answered row before `end`; returns whether
    /// it moved.
    pub fn advance(&mut self, answered: impl Fn(usize) -> bool, end: usize) -> bool {
        let before = self.base;
        while self.base < end && answered(self.base) {
            self.base += 1;
            self.rewound = false;
        }
        self.base != before
    }
}
