"""Physics: pure functions and tables (no simulation state) that turn a chip, a model, a precision
and a parallel layout into memory budgets, kernel times, collective times and step times."""

from .contract import StepCostModel
from .kernels import elementwise_kernels, elementwise_time, gemm_time
from .memory import MemoryPlan, plan_memory
from .precision import Parallelism, Precisions
from .step import Breakdown, StepModel

__all__ = ["Breakdown", "MemoryPlan", "Parallelism", "Precisions", "StepCostModel", "StepModel",
           "elementwise_kernels",
           "elementwise_time", "gemm_time", "plan_memory"]
