"""Apply the runtime part of a profile to the live host, and undo it.

Everything else in the library reads; this package writes, so it is apart and explicit:
``hftinfra apply`` is a dry run unless ``--yes``, needs root to write, writes a rollback file
with every previous value before its first change, and ``hftinfra rollback FILE`` restores
them and checks each one. The settings come from the same plan as every generated form
(:func:`hftinfra.fixes.fix_plan`); a setting that needs a reboot (kernel arguments,
firmware) is reported with its fix and never applied.

Each knob is checked before and after its write the way firedancer's ``fdctl configure
check`` does a stage: ``configured``, ``partly configured`` (some of its targets), ``not
configured``, or ``unknown`` (could not be read, with why).
"""

from hftinfra.apply.engine import (
    ApplyError,
    ApplyPlan,
    ApplyResult,
    RollbackResult,
    apply_plan,
    default_rollback_path,
    plan_apply,
    rollback,
)
from hftinfra.apply.knobs import Knob, Target

__all__ = ["ApplyError", "ApplyPlan", "ApplyResult", "Knob", "RollbackResult", "Target", "apply_plan",
           "default_rollback_path", "plan_apply", "rollback"]
