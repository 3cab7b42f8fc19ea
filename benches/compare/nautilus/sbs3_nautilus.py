"""SBS-3 through NautilusTrader's backtest engine: a peer that does per order what perpbot's
real engine does (a strategy fed typed events, pre-trade risk checks, an execution engine, a
simulated matching engine), to set beside the compare crate's SBS-3 rows.

Not part of CI (it needs Python and the `nautilus_trader` wheel). Run:

    python3 -m venv /tmp/ntv && /tmp/ntv/bin/pip install nautilus_trader==1.221.0
    /tmp/ntv/bin/python benches/compare/nautilus/sbs3_nautilus.py [EVENTS] [RUNS]

The stream is the compare crate's (`src/input.rs`: the same LCG, seed 7, snapshot, deltas and
trades, one event every 100 µs), and the quoter is `src/sbs3.rs`'s `Quoter`: post-only quotes of
one lot at floor(mid) - 1 and ceil(mid) + 1 ticks, replaced when the target moves. Latency is
1 ms each way, as in the compare crate. Nautilus's own models decide fills (an L2 book with
trade execution; no queue-position model), so its fills are reported, not compared.

What is timed: `engine.run()` alone (building the Python objects is not timed, as hftbacktest's
rows are built outside its timing).
"""

import sys
import time
from decimal import Decimal

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import LatencyModel
from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import BookOrder, OrderBookDelta, TradeTick
from nautilus_trader.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    OmsType,
    OrderSide,
    OrderStatus,
    RecordFlag,
)
from nautilus_trader.model.identifiers import InstrumentId, TradeId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

MASK = (1 << 64) - 1
MID0 = 1_000_000
SNAPSHOT_LEVELS = 500
SEED_BACKTEST = 7
EVENT_SPACING_NS = 100_000
T0 = 1_000_000_000
LATENCY_NS = 1_000_000


class Lcg:
    """The compare crate's generator (`input::Lcg`)."""

    def __init__(self, seed):
        self.x = seed

    def draw(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & MASK
        return self.x >> 33


def events(seed, n):
    """`input::events`: the snapshot and n events, ("d", is_bid, price, lots) or
    ("t", buyer_aggressor, price, lots), prices in ticks of 0.1 and sizes in lots of 0.001."""
    r = Lcg(seed)
    mid = MID0
    bids = [(mid - i, 1 + r.draw() % 5000) for i in range(1, SNAPSHOT_LEVELS + 1)]
    asks = [(mid + i, 1 + r.draw() % 5000) for i in range(1, SNAPSHOT_LEVELS + 1)]
    out = []
    pending = None
    while len(out) < n:
        if pending is not None:
            out.append(pending)
            pending = None
            continue
        if r.draw() % 10 == 0:
            buyer = r.draw() % 2 == 0
            lots = 1 + r.draw() % 5000
            out.append(("t", buyer, mid + 1 if buyer else mid - 1, lots))
            continue
        # next_delta
        sweep = None
        if r.draw() % 100 == 0:
            k = r.draw() % 3
            if k == 0:
                mid -= 1
                sweep = ("d", True, mid, 0)
            elif k == 2:
                mid += 1
                sweep = ("d", False, mid, 0)
        is_bid = r.draw() % 2 == 0
        offset = 1 + r.draw() % 50
        lots = 0 if r.draw() % 5 == 0 else 1 + r.draw() % 5000
        delta = ("d", is_bid, mid - offset if is_bid else mid + offset, lots)
        if sweep is not None:
            pending = delta
            out.append(sweep)
        else:
            out.append(delta)
    return bids, asks, out[:n]


def price(ticks):
    return Price(ticks / 10, 1)


def qty(lots):
    return Quantity(lots / 1000, 3)


def nautilus_data(instrument, bids, asks, evs):
    iid = instrument.id
    data = []
    ts = T0
    data.append(OrderBookDelta.clear(iid, 0, ts, ts))
    levels = [(OrderSide.BUY, p, q) for p, q in bids] + [(OrderSide.SELL, p, q) for p, q in asks]
    for i, (side, p, q) in enumerate(levels):
        flags = RecordFlag.F_SNAPSHOT | (RecordFlag.F_LAST if i == len(levels) - 1 else 0)
        data.append(
            OrderBookDelta(iid, BookAction.ADD, BookOrder(side, price(p), qty(q), 0), flags, 0, ts, ts)
        )
    for i, e in enumerate(evs):
        ts = T0 + i * EVENT_SPACING_NS
        if e[0] == "d":
            _, is_bid, p, lots = e
            side = OrderSide.BUY if is_bid else OrderSide.SELL
            action = BookAction.DELETE if lots == 0 else BookAction.UPDATE
            data.append(
                OrderBookDelta(
                    iid, action, BookOrder(side, price(p), qty(lots), 0), RecordFlag.F_LAST, 0, ts, ts
                )
            )
        else:
            _, buyer, p, lots = e
            data.append(
                TradeTick(
                    iid,
                    price(p),
                    qty(lots),
                    AggressorSide.BUYER if buyer else AggressorSide.SELLER,
                    TradeId(str(i)),
                    ts,
                    ts,
                )
            )
    return data


class QuoterConfig(StrategyConfig, frozen=True):
    instrument_id: str


class Quoter(Strategy):
    """`sbs3::Quoter`: one post-only lot a side at floor(mid) - 1 and ceil(mid) + 1 ticks."""

    def __init__(self, config):
        super().__init__(config)
        self.live = [None, None]
        self.placed = 0
        self.fills = [0, 0]

    def on_start(self):
        self.iid = InstrumentId.from_str(self.config.instrument_id)
        self.one_lot = qty(1)
        self.subscribe_order_book_deltas(self.iid, BookType.L2_MBP)
        self.subscribe_trade_ticks(self.iid)

    def on_order_book_deltas(self, deltas):
        self.step()

    def on_trade_tick(self, tick):
        self.step()

    def on_order_filled(self, event):
        self.fills[0 if event.order_side == OrderSide.BUY else 1] += 1

    def step(self):
        book = self.cache.order_book(self.iid)
        if book is None:
            return
        bb = book.best_bid_price()
        ba = book.best_ask_price()
        if bb is None or ba is None:
            return
        b = round(bb.as_double() * 10)
        a = round(ba.as_double() * 10)
        m2 = b + a
        targets = (m2 // 2 - 1, (m2 + 1) // 2 + 1)
        for side in (0, 1):
            target = targets[side]
            cur = self.live[side]
            if cur is not None:
                order, at = cur
                if order.is_closed:
                    self.live[side] = None
                elif at == target:
                    continue
                elif order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
                    self.cancel_order(order)
                    self.live[side] = None
                else:
                    continue
            order = self.order_factory.limit(
                self.iid,
                OrderSide.BUY if side == 0 else OrderSide.SELL,
                self.one_lot,
                price(target),
                post_only=True,
            )
            self.submit_order(order)
            self.placed += 1
            self.live[side] = (order, target)


def run_once(n, quoting=True):
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    bids, asks, evs = events(SEED_BACKTEST, n)
    data = nautilus_data(instrument, bids, asks, evs)
    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="ERROR"),
            # Limits that never bind, as in the compare crate (hftbacktest has none).
            risk_engine=RiskEngineConfig(
                max_order_submit_rate="1000000/00:00:01",
                max_order_modify_rate="1000000/00:00:01",
            ),
        )
    )
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(1_000_000, USDT)],
        base_currency=None,
        default_leverage=Decimal(10),
        book_type=BookType.L2_MBP,
        latency_model=LatencyModel(
            base_latency_nanos=LATENCY_NS,
            insert_latency_nanos=0,
            update_latency_nanos=0,
            cancel_latency_nanos=0,
        ),
        trade_execution=True,
    )
    engine.add_instrument(instrument)
    engine.add_data(data)
    strategy = Quoter(QuoterConfig(instrument_id=str(instrument.id)))
    if not quoting:
        strategy.step = lambda: None
    engine.add_strategy(strategy)
    start = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - start
    result = (elapsed, strategy.placed, tuple(strategy.fills))
    engine.dispose()
    return result


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for quoting in (False, True):
        times = []
        for _ in range(runs):
            elapsed, placed, fills = run_once(n, quoting)
            times.append(elapsed)
        times.sort()
        med = times[len(times) // 2]
        label = "with the quoter's orders" if quoting else "market data alone"
        print(
            f"nautilus_trader SBS-3, {label}: {n} events, median of {runs} {med * 1e3:.1f} ms, "
            f"{n / med / 1e6:.3f} M events/s, {med / n * 1e9:.0f} ns/event; "
            f"orders placed {placed}, fills {fills[0]} buy / {fills[1]} sell"
        )


if __name__ == "__main__":
    main()
