#!/bin/sh
# TALKR's "Step 1 — Initiate the conversation" (https://www.talkr.ai/en/resources/api-chatbot.html);
# the endpoint, "{YOUR_API_ENDPOINT}" on the page, is $TALKR_API_ENDPOINT or $1.
YOUR_API_ENDPOINT="${1:-$TALKR_API_ENDPOINT}"

# First call: get the welcome message + session
curl -X POST "${YOUR_API_ENDPOINT}" \
  -H "Content-Type: application/json" \
  -H "X-Talkr-Query: 1" \
  -d '{}'
