"""The plugin API: everything a plugin may import from datagen, and nothing else.

Built-in and third-party plugins alike import only from this module (``tests/test_architecture.py``
walks every plugin's imports and fails on anything else), so the kernel's internals can change without
breaking a plugin. What is here is documented in ``docs/plugin-guide.md`` and ``docs/hooks.md``.
"""

from __future__ import annotations

from datagen._datamodel.config import NON_NEGATIVE, POSITIVE, DatagenConfig, Price, bounded, secret_field
from datagen._datamodel.records import Message, Provenance, Record, Usage, new_id, stable_id
from datagen._datamodel.results import Results, iter_records, record_from_dict, record_to_dict
from datagen._datamodel.run import Demand, Run, RunStats
from datagen._datamodel.space import Param, ParameterSpace
from datagen._engine.batching import BatchResults, BatchStatus
from datagen._engine.concurrency import bounded_map
from datagen._engine.llm import (
    FINISH_REASONS,
    USER_AGENT,
    RateLimitHeaders,
    RateLimits,
    Request,
    Response,
    check_api_key,
    parse_rate_limits,
    parse_retry_after,
)
from datagen._engine.structured import StructuredAnswer, StructuredOutputError
from datagen._kernel.accounting import BudgetExceeded, GaussianAccountant, epsilon_for, noise_multiplier_for
from datagen._kernel.agents import SearchAgent
from datagen._kernel.commands import CliOption, Host, LazyCommand, pass_host
from datagen._kernel.context import GenerationContext, RunContext
from datagen._kernel.hookspecs import (
    Register,
    RegisterAgent,
    RegisterBackend,
    RegisterFilter,
    RegisterMethod,
    RegisterMetric,
    RegisterPlot,
    RegisterPrivacy,
    hookimpl,
)
from datagen._kernel.manager import PluginManager
from datagen._kernel.methods import records_of, request_for, require_seeds, round_rng, try_complete
from datagen._kernel.protocols import (
    BACKEND_CLASS_DEFAULTS,
    BACKEND_DEFAULTS,
    Agent,
    Backend,
    Filter,
    GenerationMethod,
    Metric,
    PIIDetector,
    Plot,
    Plugin,
    PrivacyMechanism,
)
from datagen._kernel.stages import Rejected, Stage, StageReport
from datagen._text.embeddings import Embedder
from datagen._text.prompts import PromptSet
from datagen._text.rouge import RougeLIndex, rouge_l, tokenize
from datagen.errors import (
    AuthenticationError,
    BackendError,
    BudgetExhausted,
    ConfigError,
    ConnectionFailed,
    DatagenError,
    DegenerateAnswer,
    EndpointUnreachable,
    PermanentError,
    PluginError,
    RateLimitError,
    TransientError,
    UsageError,
)
from datagen.log import Logger, get_logger, redact_text, register_secret

__all__ = [
    # hooks
    "Register",
    "RegisterAgent",
    "RegisterBackend",
    "RegisterFilter",
    "RegisterMethod",
    "RegisterMetric",
    "RegisterPlot",
    "RegisterPrivacy",
    "hookimpl",
    # commands
    "CliOption",
    "Host",
    "LazyCommand",
    "pass_host",
    # protocols, one per family
    "Agent",
    "BACKEND_CLASS_DEFAULTS",
    "BACKEND_DEFAULTS",
    "Backend",
    "Filter",
    "GenerationMethod",
    "Metric",
    "PIIDetector",
    "Plot",
    "Plugin",
    "PrivacyMechanism",
    # what a run hands to plugins (and the types of what contexts hold: ctx.plugins, ctx.run.config,
    # ctx.complete_json's answer)
    "DatagenConfig",
    "PluginManager",
    "StructuredAnswer",
    "StructuredOutputError",
    "Demand",
    "GenerationContext",
    "Run",
    "RunContext",
    "RunStats",
    # pipeline stages (filters and privacy mechanisms)
    "Rejected",
    "Stage",
    "StageReport",
    # records and files
    "Message",
    "Provenance",
    "Record",
    "Results",
    "Usage",
    "iter_records",
    "new_id",
    "record_from_dict",
    "record_to_dict",
    "stable_id",
    # requests and backends
    "BatchResults",
    "BatchStatus",
    "FINISH_REASONS",
    "RateLimits",
    "Request",
    "Response",
    "check_api_key",
    "parse_rate_limits",
    "Price",
    "RateLimitHeaders",
    "parse_retry_after",
    "USER_AGENT",
    # errors
    "AuthenticationError",
    "BackendError",
    "BudgetExhausted",
    "ConfigError",
    "ConnectionFailed",
    "DatagenError",
    "DegenerateAnswer",
    "EndpointUnreachable",
    "PermanentError",
    "PluginError",
    "RateLimitError",
    "TransientError",
    "UsageError",
    # config helpers
    "NON_NEGATIVE",
    "POSITIVE",
    "bounded",
    "secret_field",
    # logging and secrets
    "Logger",
    "get_logger",
    "redact_text",
    "register_secret",
    # helpers for generation methods: prompts, the record stream, requests, seeds, similarity
    "PromptSet",
    "Embedder",
    "RougeLIndex",
    "bounded_map",
    "records_of",
    "request_for",
    "require_seeds",
    "round_rng",
    "rouge_l",
    "tokenize",
    "try_complete",
    # differential privacy
    "GaussianAccountant",
    "BudgetExceeded",
    "epsilon_for",
    "noise_multiplier_for",
    # search agents: a base class and the parameter space they search
    "SearchAgent",
    "ParameterSpace",
    "Param",
]
