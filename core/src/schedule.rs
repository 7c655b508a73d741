//! When to rejuvenate: the resample-move schedule (docs/model.md §4).
//!
//! A move is one [`sweep`](crate::rejuvenate::sweep) of every particle over
//! the `t` observations seen so far, right after step `t` (whose
//! resampling left the particles equally weighted). Moves only change
//! particles and each leaves the posterior at `t` invariant, so the
//! evidence `Σ ln p̂(y_t | past)` accumulated by the steps stays a valid
//! estimate (Gilks & Berzuini 2001; Chopin 2002).
//!
//! Triggers: the step's ESS below a fraction of `N` (the particles have
//! just collapsed onto few ancestors), and geometric times `t₀, 2t₀, 4t₀,
//! …` (so the early, poorly informed allocations are revisited even when
//! the ESS stays high). Either is honoured only within a work budget: a
//! move at `t` costs `t` particle-observations, a step costs one, and the
//! moves' total may never exceed `budget` times the steps' total. So the
//! whole run costs O((1 + budget)·T·N·K·D²) whatever the data do; once the
//! budget binds, moves fall back to a geometric spacing by themselves.
//! A fixed `allowance` of work comes on top of the ratio, so short
//! streams, whose moves are cheap, can move at nearly every step; it adds
//! a constant, not a term growing with `T`.

/// Why a move was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Trigger {
    /// The step's ESS fell below the threshold.
    Ess,
    /// A geometric time `t₀·2ⁱ` was reached (or passed, if the budget
    /// deferred it).
    Geometric,
}

/// The schedule's settings.
///
/// # Examples
/// ```
/// use hsmoe_core::schedule::Schedule;
/// let s = Schedule::DEFAULT;
/// assert!(s.ess_fraction > 0.0 && s.first > 0 && s.budget > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Schedule {
    /// Move when the step's ESS is below `ess_fraction · N` (0: never;
    /// 1: whenever the budget allows).
    pub ess_fraction: f32,
    /// First geometric move time `t₀` (0: no geometric moves).
    pub first: u32,
    /// Largest ratio of total move work to total step work.
    pub budget: f32,
    /// Move work allowed on top of `budget` times the steps' work, in
    /// particle-observations per particle.
    pub allowance: u32,
}

impl Schedule {
    /// Every step qualifies (`ess_fraction = 1`: the ESS of a step is
    /// below N unless all weights are equal), geometric moves from
    /// `t₀ = 8`, budget 6: moves are then as frequent as the budget allows,
    /// which spaces them roughly geometrically (ratio ≈ 6/5). Measured on
    /// the paper design (K = 10, T = 500) and mcycle (K = 3): moves only
    /// after ESS collapses left mcycle's particles in one mixture mode,
    /// and budgets above 6 cost more than they gained on the paper design.
    /// No allowance: what a move costs in absolute terms is the caller's
    /// to judge.
    pub const DEFAULT: Self = Schedule {
        ess_fraction: 1.0,
        first: 8,
        budget: 6.0,
        allowance: 0,
    };
}

/// The schedule's running state: which geometric time is next and how
/// much move work has been spent.
///
/// # Examples
/// ```
/// use hsmoe_core::schedule::{Schedule, Scheduler, Trigger};
/// let schedule = Schedule { ess_fraction: 0.5, first: 4, budget: 2.0, allowance: 0 };
/// let mut s = Scheduler::new(schedule);
/// let n = 100;
/// assert_eq!(s.after_step(1, 90.0, n), None); // ESS high, t₀ not reached
/// assert_eq!(s.after_step(2, 10.0, n), Some(Trigger::Ess)); // spent 2 ≤ 2·2
/// assert_eq!(s.after_step(3, 10.0, n), Some(Trigger::Ess)); // spent 5 ≤ 2·3
/// assert_eq!(s.after_step(4, 90.0, n), None); // t₀ due, but 9 > 2·4: deferred
/// assert_eq!(s.after_step(5, 90.0, n), Some(Trigger::Geometric)); // 10 ≤ 2·5
/// assert_eq!(s.spent(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduler {
    schedule: Schedule,
    next_geometric: u64,
    spent: u64,
}

impl Scheduler {
    /// A scheduler at `t = 0`, nothing spent.
    pub fn new(schedule: Schedule) -> Self {
        Scheduler {
            schedule,
            next_geometric: u64::from(schedule.first),
            spent: 0,
        }
    }

    /// A scheduler continuing where one with these settings stood when
    /// its [`Scheduler::next_geometric`] and [`Scheduler::spent`] were
    /// read: a saved filter's moves go on as an uninterrupted run's.
    ///
    /// # Examples
    /// ```
    /// use hsmoe_core::schedule::{Schedule, Scheduler};
    /// let mut a = Scheduler::new(Schedule::DEFAULT);
    /// for t in 1..=20 {
    ///     a.after_step(t, 10.0, 100);
    /// }
    /// let mut b = Scheduler::resume(Schedule::DEFAULT, a.next_geometric(), a.spent());
    /// assert_eq!(a, b);
    /// assert_eq!(a.after_step(21, 10.0, 100), b.after_step(21, 10.0, 100));
    /// ```
    pub const fn resume(schedule: Schedule, next_geometric: u64, spent: u64) -> Self {
        Scheduler {
            schedule,
            next_geometric,
            spent,
        }
    }

    /// The next geometric move time (0: none).
    pub fn next_geometric(&self) -> u64 {
        self.next_geometric
    }

    /// The settings.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Move work spent so far, in particle-observations per particle.
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// Whether to move after step `t` (1-based; the step's ESS was `ess`
    /// of `n` particles), and why. A `Some` is a commitment: the work is
    /// booked.
    pub fn after_step(&mut self, t: u32, ess: f32, n: usize) -> Option<Trigger> {
        let t = u64::from(t);
        let geometric = self.next_geometric > 0 && t >= self.next_geometric;
        let collapsed = ess < self.schedule.ess_fraction * n as f32;
        let trigger = if geometric {
            Trigger::Geometric
        } else if collapsed {
            Trigger::Ess
        } else {
            return None;
        };
        // Budget in f64: c·t is exact there for any u32 t.
        let allowed =
            f64::from(self.schedule.budget) * t as f64 + f64::from(self.schedule.allowance);
        if (self.spent + t) as f64 > allowed {
            return None;
        }
        self.spent += t;
        if geometric {
            while self.next_geometric <= t {
                self.next_geometric *= 2;
            }
        }
        Some(trigger)
    }
}
