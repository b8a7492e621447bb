"""A small stand-in for TRL's own dataset checks (TRL itself needs PyTorch, too heavy to install here).

It replicates what TRL's trainers read: `trl.data_utils.is_conversational` (a list of
{"role", "content"} dicts under prompt/chosen/rejected/completion/messages), the columns
DPOTrainer/ORPOTrainer/RewardTrainer take (prompt, chosen, rejected, optional margin)
and KTOTrainer's (prompt, completion, label as bool); and that plain and conversational
fields are not mixed within one example, which TRL's `maybe_apply_chat_template` refuses.
"""

from __future__ import annotations

from typing import Any

ROLES = {"system", "user", "assistant", "tool", "developer"}


def is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in value)
    )


def _same_style(example: dict[str, Any], keys: tuple[str, ...]) -> bool:
    styles = {is_message_list(example[k]) for k in keys}
    plain_ok = all(isinstance(example[k], str) for k in keys) if styles == {False} else True
    return len(styles) == 1 and plain_ok


def check_preference(example: dict[str, Any]) -> None:
    allowed = {"prompt", "chosen", "rejected", "margin", "item_id"}
    assert {"prompt", "chosen", "rejected"} <= set(example), f"missing preference keys in {sorted(example)}"
    assert set(example) <= allowed, f"unexpected keys {set(example) - allowed}"
    assert _same_style(example, ("prompt", "chosen", "rejected")), "mixed plain and conversational fields"
    if is_message_list(example["chosen"]):
        assert example["chosen"][-1]["role"] == "assistant" and example["rejected"][-1]["role"] == "assistant"
    assert example["chosen"] != example["rejected"] or example.get("margin") == 0
    if "margin" in example:
        assert isinstance(example["margin"], float)


def check_kto(example: dict[str, Any]) -> None:
    assert {"prompt", "completion", "label"} <= set(example), f"missing KTO keys in {sorted(example)}"
    assert isinstance(example["label"], bool), "label must be a bool"
    assert _same_style(example, ("prompt", "completion")), "mixed plain and conversational fields"
