"""Chat prompts: OpenAI-style message lists and `\\n\\nHuman: … \\n\\nAssistant: …` transcripts."""

from __future__ import annotations

import json
import re
from typing import Any

from apps.items.importing.checks import check_text
from apps.items.importing.errors import RowRejected

ROLES = ("system", "user", "assistant", "tool", "developer")
_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def messages_parse(value: Any, column: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowRejected(f"'{column}' must be a list of messages", field=column) from None
    if not isinstance(value, list) or not value:
        raise RowRejected(f"'{column}' must be a non-empty list of {{role, content}} messages", field=column)
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RowRejected(
                f"'{column}' message {index + 1} needs a role ({', '.join(ROLES)}) and content", field=column
            )
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise RowRejected(f"'{column}' message {index + 1} content must be text", field=column)
        messages.append({"role": message["role"], "content": check_text(content, column)})
    return messages


def prompt_text_for(messages: list[dict[str, str]]) -> str:
    """The plain text of a chat prompt: its last user turn (used for search and display)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return messages[-1]["content"]


def parse_transcript(transcript: str) -> list[dict[str, str]]:
    """`\\n\\nHuman: … \\n\\nAssistant: …` -> [{role, content}, ...]."""
    parts = _TURN.split(transcript)
    if len(parts) < 3:
        raise ValueError("no 'Human:' / 'Assistant:' turns found")
    messages = []
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    return messages


def split_preference(chosen: str, rejected: str) -> tuple[list[dict[str, str]], str, str]:
    """Shared history of two transcripts, and the text each adds after it.

    A few real transcripts have two Assistant turns in a row, so the history is
    the longest common prefix of turns, cut back to end on a user turn.
    """
    try:
        a, b = parse_transcript(chosen), parse_transcript(rejected)
    except ValueError as exc:
        raise RowRejected(f"'chosen'/'rejected' are not Human/Assistant transcripts: {exc}") from None
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    while common and a[common - 1]["role"] != "user":
        common -= 1
    if common == 0:
        raise RowRejected("'chosen' and 'rejected' share no Human turn to use as the prompt")
    tails = []
    for label, turns in (("chosen", a[common:]), ("rejected", b[common:])):
        if not turns or any(turn["role"] != "assistant" for turn in turns):
            raise RowRejected(f"'{label}' must end with Assistant turns after the shared history", field=label)
        tails.append("\n\n".join(turn["content"] for turn in turns))
    return a[:common], tails[0], tails[1]
