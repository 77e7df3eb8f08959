"""Slack's message and Block Kit limits, each with where the number comes from.

Sources: https://api.slack.com/reference/block-kit/blocks, .../block-kit/block-elements,
.../block-kit/composition-objects and https://api.slack.com/methods/chat.update.
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
