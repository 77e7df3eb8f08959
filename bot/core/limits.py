"""Slack's message and Block Kit limits, and the bounds of its ``Retry-After``, each with where the number comes from.

Sources: https://api.slack.com/reference/block-kit/blocks, .../block-kit/block-elements,
.../block-kit/composition-objects, https://api.slack.com/methods/chat.update and
https://api.slack.com/apis/rate-limits.
"""

from __future__ import annotations

# "You can include up to 50 blocks in each message" (reference/block-kit/blocks).
MAX_BLOCKS = 50
# header block: "Maximum length for the text in this field is 150 characters."
MAX_HEADER_TEXT = 150
# section block: text "Maximum length ... is 3000 characters"; fields "Maximum number of items is 10.
# Maximum length for the text in each item is 2000 characters."
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
# context block: "Maximum number of items is 10."
MAX_CONTEXT_ELEMENTS = 10
# actions block: "There is a maximum of 25 elements in each action block."
MAX_ACTIONS_ELEMENTS = 25
# button element: text 75, value 2000, url 3000, action_id 255 characters.
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
# image block: image_url 3000, alt_text 2000.
MAX_IMAGE_URL = 3000
MAX_ALT_TEXT = 2000
# chat.update: "text ... truncated" is not offered; longer than 4,000 characters is rejected
# (msg_too_long), so the top-level fallback text stays within what both post and update accept.
MAX_TOP_LEVEL_TEXT = 4000
# Undocumented: Slack answers msg_blocks_too_long when the text across all blocks passes roughly
# 12,000 characters (slackapi/bolt-js#2509). We keep a margin below it.
MAX_TOTAL_BLOCK_TEXT = 12000
TOTAL_BLOCK_TEXT_BUDGET = 11500

# The longest wait a Retry-After can impose. Slack asks for seconds up to about a minute (its Tier 1 methods allow
# one call a minute: https://api.slack.com/apis/rate-limits); a larger value comes from something in between
# (a proxy) or a bug, and honouring it would hold every item behind it until a restart. Five minutes is past any
# window Slack counts in; if Slack still means it afterwards it answers 429 again and we wait again.
MAX_RETRY_AFTER_SECONDS = 300.0
# A 429 whose Retry-After is missing or unreadable (a proxy rewrote it): wait as long as Slack's own example of a
# 429 does ("Retry-After: 30", https://api.slack.com/apis/rate-limits), long enough for a per-minute window to
# move on, short enough that a storm resumes quickly.
DEFAULT_RETRY_AFTER_SECONDS = 30.0
