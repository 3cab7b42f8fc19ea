//! The executor with a runner for tests: its jobs performed against a venue in spawned tasks,
//! reports and what they derive applied to a state the way the engine does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Derived, ExecReport, Executor, RateLimitConfig, spawn_job};
use crate::risk::Approved;
use crate::state::State;
use crate::venue::VenueWriter;
use perpbot_model::Event;
use perpbot_model::clock::Clock;

/// An [`Executor`] and what the engine's runner would do around it, on tokio's clock.
pub(crate) struct Runner {
    pub exec: Executor,
    writer: Arc<dyn VenueWriter>,
    tx: mpsc::Sender<ExecReport>,
    rx: mpsc::Receiver<ExecReport>,
    clock: Clock,
}

impl Runner {
    pub fn new(writer: Arc<dyn VenueWriter>, config: RateLimitConfig) -> Runner {
        let (tx, rx) = mpsc::channel(64);
        Runner {
            exec: Executor::new(writer.capabilities(), config),
            writer,
            tx,
            rx,
            clock: Clock::starting_at(perpbot_model::Timestamp(0)),
        }
    }

    fn tick(&mut self, state: &mut State) {
        let now = self.clock.now();
        state.set_now(now);
        self.exec.set_now(now);
    }

    fn apply(derived: Vec<Derived>, state: &mut State) -> Vec<Event> {
        let mut events = Vec::new();
        for d in derived {
            d.apply(state, &mut events);
        }
        events
    }

    fn start_jobs(&mut self) {
        let jobs: Vec<_> = self.exec.take_jobs().collect();
        for job in jobs {
            spawn_job(job, Arc::clone(&self.writer), None, self.tx.clone());
        }
    }

    /// Dispatch, apply what it derived, and start the jobs it decided.
    pub fn dispatch(&mut self, approved: Vec<Approved>, state: &mut State) -> Vec<Event> {
        self.tick(state);
        let derived = self.exec.dispatch(approved, state);
        let events = Self::apply(derived, state);
        self.start_jobs();
        events
    }

    /// Release queued cancels the budget allows now.
    pub fn pump(&mut self) -> Option<Duration> {
        self.exec.set_now(self.clock.now());
        let wait = self.exec.pump();
        self.start_jobs();
        wait
    }

    /// Let the cancels waiting for acknowledgements go, as the engine does after venue events.
    pub fn release_cancels_after_ack(&mut self, state: &State) {
        self.exec.release_cancels_after_ack(state);
        self.start_jobs();
    }

    /// Take reports until none comes for 10 ms, applying each; the events the strategy sees.
    pub async fn settle(&mut self, state: &mut State) -> Vec<Event> {
        let mut events = Vec::new();
        self.start_jobs();
        while let Ok(Some(report)) =
            tokio::time::timeout(Duration::from_millis(10), self.rx.recv()).await
        {
            self.tick(state);
            let derived = self.exec.on_report(report, state);
            events.extend(Self::apply(derived, state));
            self.exec.release_cancels_after_ack(state);
            self.start_jobs();
        }
        events
    }
}
