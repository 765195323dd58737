#!/bin/sh
# TALKR's "Step 2 — Send a user message" (https://www.talkr.ai/en/resources/api-chatbot.html);
# the endpoint is $TALKR_API_ENDPOINT or $1; session and tracking are what step 1 answered
# ($TALKR_SESSION, data.responses[0].tracking as $TALKR_TRACKING). See README.md: the page's
# copy stops after '"message": "how do'; the other fields are the ones its field table names.
YOUR_API_ENDPOINT="${1:-$TALKR_API_ENDPOINT}"

# Second call: send the user's response
curl -X POST "${YOUR_API_ENDPOINT}" \
  -H "Content-Type: application/json" \
  -H "X-Talkr-Query: 1" \
  -d '{
    "message": "how do I reset my password?",
    "session": "'"${TALKR_SESSION}"'",
    "tracking": "'"${TALKR_TRACKING}"'",
    "variables": {"userresponse": "how do I reset my password?"}
  }'
