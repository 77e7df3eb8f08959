"""The one table mapping the plugin's error codes to gRPC status codes."""

from __future__ import annotations

import grpc

from bot.core.errors import ErrorCode

GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_CHANNEL_DATA: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_MESSAGE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.SLACK_AUTH: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.SLACK_MISSING_SCOPE: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.SLACK_CHANNEL_NOT_FOUND: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.SLACK_NOT_IN_CHANNEL: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.SLACK_CHANNEL_ARCHIVED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.SLACK_RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.SLACK_MESSAGE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    # Carries ERROR_ details, so Cloudforet's client does not retry it into a duplicate.
    ErrorCode.SLACK_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    # Slack refused the card itself: a bug on our side, not the operator's.
    ErrorCode.SLACK_REJECTED: grpc.StatusCode.INTERNAL,
    ErrorCode.SLACK_API: grpc.StatusCode.UNKNOWN,
    # Never DEADLINE_EXCEEDED: Cloudforet's client retries that whatever the details (a duplicate post).
    ErrorCode.TIMEOUT: grpc.StatusCode.UNAVAILABLE,
    # The plugin's own store failed: nothing was accepted, and ERROR_ details keep the client from retrying.
    ErrorCode.STORE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    # The store holds data of a newer release (a rollback): the operator's to fix by rolling forward.
    ErrorCode.STORE_TOO_NEW: grpc.StatusCode.FAILED_PRECONDITION,
    # An accepted notification whose sealed bot token no button key opens (BOT_BUTTON_KEY changed, or the shared key
    # was lost with every replica that knew it): the operator's to fix.
    ErrorCode.TOKEN_UNREADABLE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}


def grpc_status(code: ErrorCode) -> grpc.StatusCode:
    return GRPC_STATUS[code]
