"""The tables of the LR policy database (SQLAlchemy 2 ORM), one class per table.

    tasks      what was trained: dataset, model, framework, optimizer, batch size, iteration budget
               (natural key ``key``, e.g. ``mnist|lenet|caffe|momentum|100|10000``)
    policies   a policy by its canonical spec (``str(parse(spec))``), its family and parameters
    runs       one training run (or one published result): task, policy, status, seed, device,
               package versions, source ("lrkit" or the paper file and table), start/end
    summaries  one row per run: highest/final top-1/top-5, iteration of the highest, iterations to
               target, wall time, repeats, λ, and other named metrics (JSON)
    curves     per run and name ("lr", "loss", "eval_iteration", "top1", ...): float64 values,
               zlib-compressed little-endian bytes (:func:`pack_curve`); NaN/inf kept as they are
    schema_version   one row: the schema version this database has (see ``schema.MIGRATIONS``)

Accuracies are fractions in [0, 1]; iterations count optimizer steps.
"""

from __future__ import annotations

import zlib
from datetime import datetime

import numpy as np
from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lrkit.train.monitor import STATUSES

#: a stored run's status: its record's
RUN_STATUSES = STATUSES


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True, nullable=False)
    dataset: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    model: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    framework: Mapped[str | None] = mapped_column(String(50))
    optimizer: Mapped[str | None] = mapped_column(String(50))
    batch_size: Mapped[int | None] = mapped_column(Integer)
    iterations: Mapped[int | None] = mapped_column(Integer)
    runs: Mapped[list["Run"]] = relationship(back_populates="task")


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    family: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    category: Mapped[str | None] = mapped_column(String(50))
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    runs: Mapped[list["Run"]] = relationship(back_populates="policy")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), nullable=False, index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(200), nullable=False, default="lrkit", index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    seed: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict | None] = mapped_column(JSON)
    environment: Mapped[dict | None] = mapped_column(JSON)
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    task: Mapped[Task] = relationship(back_populates="runs")
    policy: Mapped[Policy] = relationship(back_populates="runs")
    summary: Mapped["Summary | None"] = relationship(back_populates="run", cascade="all, delete-orphan")
    curves: Mapped[list["Curve"]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Summary(Base):
    __tablename__ = "summaries"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    highest_top1: Mapped[float | None] = mapped_column(Float)
    highest_top1_std: Mapped[float | None] = mapped_column(Float)
    highest_top1_iteration: Mapped[int | None] = mapped_column(Integer)
    highest_top5: Mapped[float | None] = mapped_column(Float)
    final_top1: Mapped[float | None] = mapped_column(Float)
    final_top5: Mapped[float | None] = mapped_column(Float)
    target_acc: Mapped[float | None] = mapped_column(Float)
    iterations_to_target: Mapped[int | None] = mapped_column(Integer)
    iterations: Mapped[int | None] = mapped_column(Integer)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    repeats: Mapped[int | None] = mapped_column(Integer)
    lam: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    run: Mapped[Run] = relationship(back_populates="summary")


class Curve(Base):
    __tablename__ = "curves"
    __table_args__ = (UniqueConstraint("run_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    length: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    run: Mapped[Run] = relationship(back_populates="curves")


def pack_curve(values) -> tuple[int, bytes]:
    """(length, bytes): float64 little-endian, zlib level 6. ``None`` entries become NaN."""
    arr = np.asarray([np.nan if v is None else float(v) for v in values], dtype="<f8")
    return len(arr), zlib.compress(arr.tobytes(), 6)


def unpack_curve(length: int, data: bytes) -> np.ndarray:
    arr = np.frombuffer(zlib.decompress(data), dtype="<f8")
    if len(arr) != length:
        raise ValueError(f"curve data holds {len(arr)} values, the row says {length}")
    return arr.copy()
