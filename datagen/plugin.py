"""The plugin API: everything a plugin may import from datagen, and nothing else.

Built-in and third-party plugins alike import only from this module (``tests/test_architecture.py``
walks every plugin's imports and fails on anything else), so the kernel's internals can change without
breaking a plugin. What is here is documented in ``docs/plugin-guide.md`` and ``docs/hooks.md``.

Each name is imported when first used (PEP 562): a plugin that registers a command pays for the command
kit, not for the engine, the data model and the text tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: every name of the API and the module that defines it, by what it is for
_WHERE: dict[str, str] = {
    # hooks: the marker, and the callable each family's hook hands a plugin (typed per family)
    "hookimpl": "datagen._kernel.hookspecs",
    "Register": "datagen._kernel.hookspecs",
    "RegisterAgent": "datagen._kernel.hookspecs",
    "RegisterCommand": "datagen._kernel.hookspecs",
    "RegisterBackend": "datagen._kernel.hookspecs",
    "RegisterFilter": "datagen._kernel.hookspecs",
    "RegisterMethod": "datagen._kernel.hookspecs",
    "RegisterMetric": "datagen._kernel.hookspecs",
    "RegisterPlot": "datagen._kernel.hookspecs",
    "RegisterPrivacy": "datagen._kernel.hookspecs",
    "RegisterExporter": "datagen._kernel.hookspecs",
    "RegisterExecutor": "datagen._kernel.hookspecs",
    # commands: registered by name and import path, handed the host (config, plugins, runner, services)
    "LazyCommand": "datagen._kernel.commands",
    "Host": "datagen._kernel.commands",
    "pass_host": "datagen._kernel.commands",
    "CliOption": "datagen._kernel.commands",
    "put_setting": "datagen._datamodel.config",
    # an optional service a plugin provides to the engine (``shared_rate_bucket``: an executor's workers'
    # shared rate limit)
    "provide": "datagen.services",
    # the protocol of each family, and the optional attributes' defaults
    "Plugin": "datagen._kernel.protocols",
    "Backend": "datagen._kernel.protocols",
    "GenerationMethod": "datagen._kernel.protocols",
    "Filter": "datagen._kernel.protocols",
    "PrivacyMechanism": "datagen._kernel.protocols",
    "PIIDetector": "datagen._kernel.protocols",
    "Metric": "datagen._kernel.protocols",
    "Plot": "datagen._kernel.protocols",
    "Agent": "datagen._kernel.protocols",
    "Exporter": "datagen._kernel.protocols",
    "Executor": "datagen._kernel.protocols",
    "PipelineJob": "datagen._kernel.protocols",
    "WorkerSpec": "datagen._kernel.protocols",
    "GroupWorker": "datagen._kernel.protocols",
    "BACKEND_DEFAULTS": "datagen._kernel.protocols",
    "BACKEND_CLASS_DEFAULTS": "datagen._kernel.protocols",
    # what a run hands a plugin: its contexts and the types they hold (ctx.run, ctx.demand,
    # ctx.plugins, ctx.run.config, ctx.complete_json's answer)
    "GenerationContext": "datagen._kernel.context",
    "RunContext": "datagen._kernel.context",
    "Run": "datagen._datamodel.run",
    "RunStats": "datagen._datamodel.run",
    "Demand": "datagen._datamodel.run",
    "PluginManager": "datagen._kernel.manager",
    "DatagenConfig": "datagen._datamodel.config",
    "StructuredAnswer": "datagen._engine.structured",
    "StructuredOutputError": "datagen._engine.structured",
    # stages: what filters and privacy mechanisms return
    "Stage": "datagen._kernel.stages",
    "Rejected": "datagen._kernel.stages",
    "StageReport": "datagen._kernel.stages",
    # records, and reading and writing their files
    "Record": "datagen._datamodel.records",
    "Message": "datagen._datamodel.records",
    "Provenance": "datagen._datamodel.records",
    "Usage": "datagen._datamodel.records",
    "Results": "datagen._datamodel.results",
    "new_id": "datagen._datamodel.records",
    "stable_id": "datagen._datamodel.records",
    "record_from_dict": "datagen._datamodel.results",
    "record_to_dict": "datagen._datamodel.results",
    "iter_records": "datagen._datamodel.results",
    "write_file": "datagen._datamodel.results",
    "atomic_text": "datagen._datamodel.results",
    "check_side_file": "datagen._datamodel.results",
    # for backends: requests, responses, rate-limit headers, batches, keys, prices
    "Request": "datagen._engine.llm",
    "Response": "datagen._engine.llm",
    "FINISH_REASONS": "datagen._engine.llm",
    "USER_AGENT": "datagen._engine.llm",
    "RateLimits": "datagen._engine.llm",
    "RateLimitHeaders": "datagen._engine.llm",
    "parse_rate_limits": "datagen._engine.llm",
    "parse_retry_after": "datagen._engine.llm",
    "error_for_status": "datagen._engine.llm",
    "RETRYABLE_STATUS": "datagen._engine.llm",
    "BatchResults": "datagen._engine.batching",
    "BatchStatus": "datagen._engine.batching",
    "check_api_key": "datagen._engine.llm",
    "on_the_wire": "datagen._engine.llm",
    "Price": "datagen._datamodel.config",
    # for generation methods: the record stream, requests, seeds, prompts, similarity, embeddings
    "records_of": "datagen._kernel.methods",
    "request_for": "datagen._kernel.methods",
    "try_complete": "datagen._kernel.methods",
    "require_seeds": "datagen._kernel.methods",
    "round_rng": "datagen._kernel.methods",
    "with_persona_metadata": "datagen._kernel.methods",
    "bounded_map": "datagen._engine.concurrency",
    # for executors: a server's pace learned from every worker's requests
    "ClusterPace": "datagen._engine.pace",
    "PipeWorkers": "datagen._engine.workers",
    "serve_requests": "datagen._engine.workers",
    "PromptSet": "datagen._text.prompts",
    "RougeLIndex": "datagen._text.rouge",
    "rouge_l": "datagen._text.rouge",
    "LANGUAGE_NAMES": "datagen._datamodel.languages",
    "tokenize": "datagen._text.rouge",
    "Embedder": "datagen._text.embeddings",
    # for privacy mechanisms: the differential-privacy accountant
    "GaussianAccountant": "datagen._kernel.accounting",
    "BudgetExceeded": "datagen._kernel.accounting",
    "epsilon_for": "datagen._kernel.accounting",
    "noise_multiplier_for": "datagen._kernel.accounting",
    # for agents: a base class and the parameter space they search
    "SearchAgent": "datagen._kernel.agents",
    "ParameterSpace": "datagen._datamodel.space",
    "Param": "datagen._datamodel.space",
    # for plugin options: bounds and secrets in a plugin's Config
    "NON_NEGATIVE": "datagen._datamodel.config",
    "POSITIVE": "datagen._datamodel.config",
    "bounded": "datagen._datamodel.config",
    "secret_field": "datagen._datamodel.config",
    # errors (each user-facing one carries its exit code)
    "DatagenError": "datagen.errors",
    "UsageError": "datagen.errors",
    "ConfigError": "datagen.errors",
    "PluginError": "datagen.errors",
    "BackendError": "datagen.errors",
    "AuthenticationError": "datagen.errors",
    "RateLimitError": "datagen.errors",
    "TransientError": "datagen.errors",
    "ConnectionFailed": "datagen.errors",
    "EndpointUnreachable": "datagen.errors",
    "PermanentError": "datagen.errors",
    "DegenerateAnswer": "datagen.errors",
    "BudgetExhausted": "datagen.errors",
    # logging, with secrets redacted
    "get_logger": "datagen.log",
    "Logger": "datagen.log",
    "redact_text": "datagen.log",
    "register_secret": "datagen.log",
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


# the same names for type checkers and editors (tests/test_architecture.py keeps the two lists equal)
if TYPE_CHECKING:
    from datagen._datamodel.config import (
        NON_NEGATIVE as NON_NEGATIVE,
        POSITIVE as POSITIVE,
        DatagenConfig as DatagenConfig,
        Price as Price,
        bounded as bounded,
        put_setting as put_setting,
        secret_field as secret_field,
    )
    from datagen._datamodel.languages import (
        LANGUAGE_NAMES as LANGUAGE_NAMES,
    )
    from datagen._datamodel.records import (
        Message as Message,
        Provenance as Provenance,
        Record as Record,
        Usage as Usage,
        new_id as new_id,
        stable_id as stable_id,
    )
    from datagen._datamodel.results import (
        Results as Results,
        atomic_text as atomic_text,
        check_side_file as check_side_file,
        iter_records as iter_records,
        record_from_dict as record_from_dict,
        record_to_dict as record_to_dict,
        write_file as write_file,
    )
    from datagen._datamodel.run import (
        Demand as Demand,
        Run as Run,
        RunStats as RunStats,
    )
    from datagen._datamodel.space import (
        Param as Param,
        ParameterSpace as ParameterSpace,
    )
    from datagen._engine.batching import (
        BatchResults as BatchResults,
        BatchStatus as BatchStatus,
    )
    from datagen._engine.concurrency import (
        bounded_map as bounded_map,
    )
    from datagen._engine.llm import (
        FINISH_REASONS as FINISH_REASONS,
        RETRYABLE_STATUS as RETRYABLE_STATUS,
        USER_AGENT as USER_AGENT,
        RateLimitHeaders as RateLimitHeaders,
        RateLimits as RateLimits,
        Request as Request,
        Response as Response,
        check_api_key as check_api_key,
        error_for_status as error_for_status,
        on_the_wire as on_the_wire,
        parse_rate_limits as parse_rate_limits,
        parse_retry_after as parse_retry_after,
    )
    from datagen._engine.pace import ClusterPace as ClusterPace
    from datagen._engine.structured import (
        StructuredAnswer as StructuredAnswer,
        StructuredOutputError as StructuredOutputError,
    )
    from datagen._engine.workers import PipeWorkers as PipeWorkers, serve_requests as serve_requests
    from datagen._kernel.accounting import (
        BudgetExceeded as BudgetExceeded,
        GaussianAccountant as GaussianAccountant,
        epsilon_for as epsilon_for,
        noise_multiplier_for as noise_multiplier_for,
    )
    from datagen._kernel.agents import (
        SearchAgent as SearchAgent,
    )
    from datagen._kernel.commands import (
        CliOption as CliOption,
        Host as Host,
        LazyCommand as LazyCommand,
        pass_host as pass_host,
    )
    from datagen._kernel.context import (
        GenerationContext as GenerationContext,
        RunContext as RunContext,
    )
    from datagen._kernel.hookspecs import (
        Register as Register,
        RegisterAgent as RegisterAgent,
        RegisterBackend as RegisterBackend,
        RegisterCommand as RegisterCommand,
        RegisterExecutor as RegisterExecutor,
        RegisterExporter as RegisterExporter,
        RegisterFilter as RegisterFilter,
        RegisterMethod as RegisterMethod,
        RegisterMetric as RegisterMetric,
        RegisterPlot as RegisterPlot,
        RegisterPrivacy as RegisterPrivacy,
        hookimpl as hookimpl,
    )
    from datagen._kernel.manager import (
        PluginManager as PluginManager,
    )
    from datagen._kernel.methods import (
        records_of as records_of,
        request_for as request_for,
        require_seeds as require_seeds,
        round_rng as round_rng,
        try_complete as try_complete,
        with_persona_metadata as with_persona_metadata,
    )
    from datagen._kernel.protocols import (
        BACKEND_CLASS_DEFAULTS as BACKEND_CLASS_DEFAULTS,
        BACKEND_DEFAULTS as BACKEND_DEFAULTS,
        Agent as Agent,
        Backend as Backend,
        Executor as Executor,
        Exporter as Exporter,
        Filter as Filter,
        GenerationMethod as GenerationMethod,
        GroupWorker as GroupWorker,
        Metric as Metric,
        PIIDetector as PIIDetector,
        PipelineJob as PipelineJob,
        Plot as Plot,
        Plugin as Plugin,
        PrivacyMechanism as PrivacyMechanism,
        WorkerSpec as WorkerSpec,
    )
    from datagen._kernel.stages import (
        Rejected as Rejected,
        Stage as Stage,
        StageReport as StageReport,
    )
    from datagen._text.embeddings import (
        Embedder as Embedder,
    )
    from datagen._text.prompts import (
        PromptSet as PromptSet,
    )
    from datagen._text.rouge import (
        RougeLIndex as RougeLIndex,
        rouge_l as rouge_l,
        tokenize as tokenize,
    )
    from datagen.errors import (
        AuthenticationError as AuthenticationError,
        BackendError as BackendError,
        BudgetExhausted as BudgetExhausted,
        ConfigError as ConfigError,
        ConnectionFailed as ConnectionFailed,
        DatagenError as DatagenError,
        DegenerateAnswer as DegenerateAnswer,
        EndpointUnreachable as EndpointUnreachable,
        PermanentError as PermanentError,
        PluginError as PluginError,
        RateLimitError as RateLimitError,
        TransientError as TransientError,
        UsageError as UsageError,
    )
    from datagen.log import (
        Logger as Logger,
        get_logger as get_logger,
        redact_text as redact_text,
        register_secret as register_secret,
    )
    from datagen.services import (
        provide as provide,
    )
