"""Schema extensions: error codes on every top-level error, and masking.

Every top-level error leaves with an `extensions.code`. Errors the server
raised on purpose keep their message; anything unexpected is replaced by a
generic message with the request id, and logged in full under that id.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from graphql_api.schema.errors import ApiErrorCode, api_error

_UNAVAILABLE = (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)

logger = logging.getLogger("graphql_api.errors")

INTERNAL_MESSAGE = "Internal server error. Quote the request id when reporting it."
UNAVAILABLE_MESSAGE = "A service the API depends on is unavailable; retry shortly."


def _code_of(error: GraphQLError) -> str | None:
    extensions = error.extensions or {}
    code = extensions.get("code")
    return str(code) if code else None


def _with_code(error: GraphQLError, code: ApiErrorCode) -> GraphQLError:
    error.extensions = {**(error.extensions or {}), "code": code.value}
    return error


def is_statement_timeout(exception: BaseException) -> bool:
    """PostgreSQL cancelled a statement at `statement_timeout` (SQLSTATE 57014)."""
    driver_error = getattr(exception, "orig", None)
    return getattr(driver_error, "sqlstate", None) == "57014" or (
        "canceling statement due to statement timeout" in str(exception)
    )


def is_unavailable(exception: BaseException) -> bool:
    """A dependency could not be reached (connection refused, pool exhausted, timeout)."""
    # A connection that died under the statement (pg_terminate_backend, a server
    # restart, a network cut): SQLAlchemy saw the disconnect and invalidated it,
    # whatever generic DBAPI class the driver's error was mapped to (asyncpg's
    # "connection was closed in the middle of operation" is a plain DBAPIError).
    if isinstance(exception, DBAPIError) and exception.connection_invalidated:
        return True
    # The server refuses connections for now: too many clients (53300), out of
    # resources (class 53), starting up or shutting down (57P01-57P03).
    sqlstate = getattr(getattr(exception, "orig", None), "sqlstate", None) or getattr(
        exception, "sqlstate", None
    )
    if isinstance(sqlstate, str) and (
        sqlstate.startswith(("53", "08")) or sqlstate in ("57P01", "57P02", "57P03")
    ):
        return True
    # A bare OSError is what drivers raise on connection failure ("Multiple
    # exceptions" when no address answers); file-related subclasses are our bugs.
    return isinstance(exception, _UNAVAILABLE) or type(exception) is OSError


def finalize_error(
    error: GraphQLError, request_id: str | None, operation: str | None
) -> GraphQLError:
    """Give the error its code, or mask it if nothing meant to raise it. Idempotent.

    Errors without a path that point into the document (bad literals, variables
    that do not fit their types, validation) are the client's: they keep their
    message. Errors from resolvers keep theirs only when raised on purpose
    (a GraphQLError); anything else is masked and logged with the request id.
    """
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError) or isinstance(original, GraphQLSyntaxError):
        return _with_code(error, ApiErrorCode.GRAPHQL_PARSE_FAILED)
    deliberate = original is None or isinstance(original, GraphQLError)
    about_the_document = error.path is None and bool(error.nodes)
    if deliberate or about_the_document:
        if _code_of(error) is None:
            # No path: the request itself (variables, operation name, literals).
            # A path with nothing raised: a null in a non-null field, our bug.
            no_path = error.path is None
            _with_code(
                error,
                ApiErrorCode.BAD_USER_INPUT if no_path else ApiErrorCode.INTERNAL_SERVER_ERROR,
            )
        return error
    assert original is not None
    if is_statement_timeout(original):
        return GraphQLError(
            "A database statement took too long and was cancelled; ask for less.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ApiErrorCode.OPERATION_TIMEOUT.value, "requestId": request_id},
        )
    unavailable = is_unavailable(original)
    logger.error(
        "unexpected error in %s at %s",
        operation or "anonymous operation",
        ".".join(str(part) for part in error.path or ()) or "(no path)",
        exc_info=original,
        extra={"request_id": request_id},
    )
    code = ApiErrorCode.SERVICE_UNAVAILABLE if unavailable else ApiErrorCode.INTERNAL_SERVER_ERROR
    return GraphQLError(
        UNAVAILABLE_MESSAGE if unavailable else INTERNAL_MESSAGE,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": code.value, "requestId": request_id},
    )


def _needs_operation_name(context: ExecutionContext) -> bool:
    """Several operations and no name: the spec says refuse (Strawberry runs the first)."""
    document = context.graphql_document
    if document is None or getattr(context, "_provided_operation_name", None) is not None:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return len(operations) > 1


class ErrorHandling(SchemaExtension):
    """Code request errors and mask unexpected ones, for HTTP and WebSocket alike.

    Errors raised before the operation hook runs (a parse error with the parser
    cache on) never reach it; the HTTP view applies `finalize_error` to the
    final result as well, so nothing leaves uncoded or unmasked.
    """

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        for error in context.pre_execution_errors or ():
            if _code_of(error) is None:
                _with_code(error, ApiErrorCode.GRAPHQL_VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        # Raised here, Strawberry reports it as a request error (no data); errors
        # added on the way out of on_validate would come too late to count.
        if _needs_operation_name(self.execution_context):
            raise api_error(
                ApiErrorCode.BAD_USER_INPUT,
                "The document has several operations: say which to run with `operationName`.",
            )
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        operation = self.execution_context.operation_name
        result.errors = [finalize_error(error, request_id, operation) for error in result.errors]
