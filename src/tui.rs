//! The live dashboard (`perpbot run --tui`): one screen with the book around the mid and the
//! bot's quotes in it, position and exposure, PnL net of fees and gas with its parts and a
//! sparkline over the run, the last fills, trading state and the headroom to each loss limit,
//! the venue connection, request latency and refusals.
//!
//! Keys: `q` stops cleanly (cancel everything, then the run report), `k` pulls the kill switch
//! after a `y` to confirm, `p` pauses quoting (reduce-only). It reads the engine's published
//! status; drawing never waits on the engine, and the engine never waits on drawing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tokio::sync::{mpsc, watch};

use crate::engine::status::MarketStatus;
use crate::engine::{Control, Status};
use crate::model::{Side, TradingState};

/// What the screen shows besides the status: the PnL history and a pending confirmation.
#[derive(Debug, Default)]
pub struct View {
    /// Net PnL at each status, oldest first (the sparkline).
    pub pnl_history: Vec<Decimal>,
    /// `k` was pressed; `y` confirms the kill, anything else cancels it.
    pub confirm_kill: bool,
    /// A line about the last key's effect.
    pub notice: Option<String>,
}

impl View {
    /// Note a new status.
    pub fn observe(&mut self, s: &Status) {
        if self.pnl_history.len() == 600 {
            self.pnl_history.remove(0);
        }
        self.pnl_history.push(s.pnl.net);
    }

    /// What a key asks for, if anything. Ctrl-C stops like `q` (the terminal is in raw mode,
    /// so it arrives as a key, not a signal).
    pub fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) -> Option<Control> {
        if code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL) {
            self.notice = Some("stopping: cancelling every order…".into());
            return Some(Control::Shutdown);
        }
        if self.confirm_kill {
            self.confirm_kill = false;
            if code == KeyCode::Char('y') {
                self.notice = Some("kill switch pulled".into());
                return Some(Control::Kill("dashboard".into()));
            }
            self.notice = Some("kill cancelled".into());
            return None;
        }
        match code {
            KeyCode::Char('q') => {
                self.notice = Some("stopping: cancelling every order…".into());
                Some(Control::Shutdown)
            }
            KeyCode::Char('k') => {
                self.confirm_kill = true;
                None
            }
            KeyCode::Char('p') => {
                self.notice = Some("paused: reduce-only".into());
                Some(Control::ReduceOnly("paused from the dashboard".into()))
            }
            _ => None,
        }
    }
}

fn d(v: Decimal, dp: u32) -> String {
    v.round_dp(dp).to_string()
}

fn state_style(state: TradingState) -> (String, Style) {
    match state {
        TradingState::Active => ("ACTIVE".into(), Style::default().fg(Color::Green)),
        TradingState::ReduceOnly => ("REDUCE-ONLY".into(), Style::default().fg(Color::Yellow)),
        TradingState::Halted => (
            "HALTED".into(),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    }
}

/// Draw one frame of `status` (fits 80×24; uses more room when there is more).
pub fn render(frame: &mut Frame, status: &Status, view: &View) {
    let area = frame.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(12),
            Constraint::Length(9),
        ])
        .split(area);
    let (state, style) = state_style(status.trading_state);
    let mut title = vec![
        Span::styled(" perpbot ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("· {} · ", status.strategy)),
        Span::styled(state, style),
    ];
    let hint = if view.confirm_kill {
        "  KILL? press y to confirm, any other key to cancel".to_string()
    } else {
        match &view.notice {
            Some(n) => format!("  {n}"),
            None => "  q stop · k kill · p pause".to_string(),
        }
    };
    title.push(Span::raw(hint));
    frame.render_widget(Paragraph::new(Line::from(title)), rows[0]);

    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .split(rows[1]);
    match status.markets.first() {
        Some(m) => frame.render_widget(book(m), top[0]),
        None => frame.render_widget(Paragraph::new("no market").block(boxed("Book")), top[0]),
    }
    account(frame, top[1], status, view);

    let bottom = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .split(rows[2]);
    frame.render_widget(fills(status), bottom[0]);
    frame.render_widget(health(status), bottom[1]);
}

fn boxed(title: impl Into<String>) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(title.into())
}

/// The book around the mid, asks above bids, the bot's quotes marked.
fn book(m: &MarketStatus) -> Paragraph<'static> {
    let own = |side: Side, price: Decimal| {
        m.orders
            .iter()
            .filter(|o| o.side == side && o.price == Some(price))
            .map(|o| o.remaining)
            .sum::<Decimal>()
    };
    let mut lines = Vec::new();
    for l in m.asks.iter().rev() {
        let mine = own(Side::Sell, l.price);
        let mark = if mine.is_zero() {
            String::new()
        } else {
            format!(" ◀ own {}", d(mine, 4))
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!(" ask {:>10} {:>10}", d(l.price, 6), d(l.size, 4)),
                Style::default().fg(Color::Red),
            ),
            Span::styled(mark, Style::default().add_modifier(Modifier::BOLD)),
        ]));
    }
    lines.push(Line::from(format!(
        " ── mid {} ──",
        m.mid.map_or("-".into(), |x| d(x, 6))
    )));
    for l in &m.bids {
        let mine = own(Side::Buy, l.price);
        let mark = if mine.is_zero() {
            String::new()
        } else {
            format!(" ◀ own {}", d(mine, 4))
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!(" bid {:>10} {:>10}", d(l.price, 6), d(l.size, 4)),
                Style::default().fg(Color::Green),
            ),
            Span::styled(mark, Style::default().add_modifier(Modifier::BOLD)),
        ]));
    }
    // Own quotes outside the levels shown.
    for o in &m.orders {
        let shown = m
            .asks
            .iter()
            .chain(&m.bids)
            .any(|l| Some(l.price) == o.price);
        if !shown && let Some(p) = o.price {
            lines.push(Line::from(format!(
                " own {} {} @ {} (deeper)",
                if o.side == Side::Buy { "bid" } else { "ask" },
                d(o.remaining, 4),
                d(p, 6)
            )));
        }
    }
    Paragraph::new(lines).block(boxed(format!("Book {}", m.name)))
}

/// Position, exposure, PnL with its parts and a sparkline, and the limits' headroom.
fn account(frame: &mut Frame, area: Rect, s: &Status, view: &View) {
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(6), Constraint::Length(4)])
        .split(area);
    let p = &s.pnl;
    let mut lines = Vec::new();
    for m in &s.markets {
        lines.push(Line::from(format!(
            " {}  position {}  notional {}",
            m.name,
            d(m.position, 4),
            d(m.notional, 2)
        )));
    }
    lines.push(Line::from(vec![
        Span::raw(" PnL net "),
        Span::styled(
            d(p.net, 6),
            Style::default()
                .fg(if p.net < Decimal::ZERO {
                    Color::Red
                } else {
                    Color::Green
                })
                .add_modifier(Modifier::BOLD),
        ),
    ]));
    lines.push(Line::from(format!(
        "   spread {} + inventory {}",
        d(p.spread_capture, 4),
        d(p.inventory, 4),
    )));
    lines.push(Line::from(format!(
        "   − fees {} − gas {} + funding {}",
        d(p.fees, 4),
        d(p.gas, 4),
        d(p.funding, 4)
    )));
    let l = &s.limits;
    let headroom = |v: Option<Decimal>| v.map_or("-".to_string(), |x| d(x, 2));
    lines.push(Line::from(format!(
        " room: loss {} · drawdown {}",
        headroom(l.loss_headroom),
        headroom(l.drawdown_headroom)
    )));
    if let Some(reason) = &s.trading_reason {
        lines.push(Line::from(format!(" last change: {reason}")));
    }
    frame.render_widget(
        Paragraph::new(lines).block(boxed("Position & PnL")),
        parts[0],
    );
    // The sparkline shows the net PnL's shape: shifted so its lowest point is zero.
    let lo = view.pnl_history.iter().min().copied().unwrap_or_default();
    let data: Vec<u64> = view
        .pnl_history
        .iter()
        .map(|v| ((*v - lo) * Decimal::from(10_000)).to_u64().unwrap_or(0))
        .collect();
    let width = parts[1].width.saturating_sub(2) as usize;
    let tail = &data[data.len().saturating_sub(width)..];
    frame.render_widget(
        Sparkline::default()
            .block(boxed("net PnL over the run"))
            .data(tail)
            .style(Style::default().fg(Color::Cyan)),
        parts[1],
    );
}

fn fills(s: &Status) -> Paragraph<'static> {
    let lines: Vec<Line> = s
        .recent_fills
        .iter()
        .rev()
        .map(|f| {
            let secs = f.ts.0 / 1_000_000_000 % 86_400;
            Line::from(format!(
                " {:02}:{:02}:{:02} {} {} @ {} {:?}",
                secs / 3_600,
                secs / 60 % 60,
                secs % 60,
                if f.side == Side::Buy { "buy " } else { "sell" },
                d(f.size, 4),
                d(f.price, 6),
                f.liquidity
            ))
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::from(" no fills yet")]
    } else {
        lines
    };
    Paragraph::new(lines).block(boxed("Last fills"))
}

fn health(s: &Status) -> Paragraph<'static> {
    let connection = match s.disconnected_since {
        Some(since) => format!("DISCONNECTED for {} s", s.ts.since(since).as_secs()),
        None => "connected".to_string(),
    };
    let last = s.last_reconnect.map_or("never".to_string(), |t| {
        format!("{} s ago", s.ts.since(t).as_secs())
    });
    let latency = s.latency.map_or("no requests yet".to_string(), |l| {
        format!(
            "p50 {:.0} ms · p99 {:.0} ms ({} req)",
            l.p50_ms, l.p99_ms, l.samples
        )
    });
    let c = &s.counts;
    Paragraph::new(vec![
        Line::from(format!(" venue: {connection} · last reconnect {last}")),
        Line::from(format!(" latency: {latency}")),
        Line::from(format!(
            " fills {} ({} maker) · requests {}",
            c.fills, c.maker_fills, c.requests_sent
        )),
        Line::from(format!(
            " refused: venue {} · risk {} · errors {}",
            c.venue_rejections, c.risk_rejections, c.strategy_errors
        )),
        Line::from(format!(
            " unexplained positions {}",
            s.unexplained_mismatches
        )),
    ])
    .block(boxed("Health"))
}

/// Run the dashboard until the engine's status channel closes (the run ended): draw on every
/// new status (at most every 100 ms), turn keys into `control` commands. The terminal is
/// restored before it returns, also after a panic.
pub async fn run(mut status: watch::Receiver<Arc<Status>>, control: mpsc::Sender<Control>) {
    let mut terminal = ratatui::init();
    let stop = Arc::new(AtomicBool::new(false));
    let (keys_tx, mut keys) = mpsc::channel::<(KeyCode, KeyModifiers)>(16);
    let reader_stop = Arc::clone(&stop);
    // crossterm's reads block: they live on a thread of their own.
    let reader = std::thread::spawn(move || {
        while !reader_stop.load(Ordering::Relaxed) {
            if event::poll(Duration::from_millis(100)).unwrap_or(false)
                && let Ok(TermEvent::Key(k)) = event::read()
                && k.kind == KeyEventKind::Press
                && keys_tx.blocking_send((k.code, k.modifiers)).is_err()
            {
                break;
            }
        }
    });
    let mut view = View::default();
    let mut redraw = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let s = status.borrow_and_update().clone();
                view.observe(&s);
            }
            Some((code, modifiers)) = keys.recv() => {
                if let Some(command) = view.key(code, modifiers) {
                    let _ = control.send(command).await;
                }
            }
            _ = redraw.tick() => {
                let s = status.borrow().clone();
                if terminal.draw(|f| render(f, &s, &view)).is_err() {
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    ratatui::restore();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::status_fixture::status;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(width: u16, height: u16, s: &Status, view: &View) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render(f, s, view)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn one_frame_shows_book_quotes_position_pnl_fills_and_health_in_80_by_24() {
        let s = status();
        let mut view = View::default();
        view.observe(&s);
        let text = screen(80, 24, &s, &view);
        for needle in [
            "perpbot",
            "ACTIVE",
            "Book APT-USD",
            "ask      5.501",
            "bid      5.498         31 ◀ own 1",
            "mid 5.5",
            "position -1.5",
            "PnL net -0.0421",
            "spread 0.021",
            "gas 0.0571",
            "loss 99.96",
            "Last fills",
            "buy  1 @ 5.498",
            "p50 310 ms",
            "refused: venue 2",
        ] {
            assert!(
                text.contains(needle),
                "{needle:?} not on the screen:\n{text}"
            );
        }
    }

    #[test]
    fn it_resizes_and_a_tiny_terminal_does_not_panic() {
        let s = status();
        let view = View::default();
        assert!(screen(160, 48, &s, &view).contains("Book APT-USD"));
        let _ = screen(20, 6, &s, &view);
        let mut halted = s.clone();
        halted.trading_state = TradingState::Halted;
        halted.trading_reason = Some("kill switch: dashboard".into());
        halted.disconnected_since = Some(Timestamp::from_secs(1_750_000_000));
        let text = screen(100, 30, &halted, &view);
        assert!(
            text.contains("HALTED") && text.contains("DISCONNECTED for 10 s"),
            "{text}"
        );
    }

    #[test]
    fn keys_stop_pause_and_kill_only_after_confirmation() {
        let none = KeyModifiers::NONE;
        let mut v = View::default();
        assert_eq!(v.key(KeyCode::Char('q'), none), Some(Control::Shutdown));
        assert_eq!(
            v.key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Control::Shutdown)
        );
        assert!(matches!(
            v.key(KeyCode::Char('p'), none),
            Some(Control::ReduceOnly(_))
        ));
        assert_eq!(v.key(KeyCode::Char('k'), none), None, "asks first");
        assert!(v.confirm_kill);
        assert_eq!(
            v.key(KeyCode::Char('n'), none),
            None,
            "anything but y cancels"
        );
        assert!(!v.confirm_kill);
        v.key(KeyCode::Char('k'), none);
        assert!(matches!(
            v.key(KeyCode::Char('y'), none),
            Some(Control::Kill(_))
        ));
        assert_eq!(v.key(KeyCode::Char('x'), none), None);
    }
}
