"""A Python `requests` client of TALKR's chatbot API conversation cycle (see README.md: not
TALKR's own script, which the stored copy of the page did not hold).

Usage: python client.py [ENDPOINT]   (or TALKR_API_ENDPOINT=...)
"""

import os
import sys

import requests

API_ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else os.environ["TALKR_API_ENDPOINT"]
HEADERS = {"Content-Type": "application/json", "X-Talkr-Query": "1"}

# Step 1: initiate the conversation
response = requests.post(API_ENDPOINT, headers=HEADERS, json={}, timeout=30)
response.raise_for_status()
data = response.json()
session = data["session"]
tracking = data["data"]["responses"][0]["tracking"]
print("Bot:", data["data"]["messages"][0]["content"])

# Step 2: send the user's message with the session and the tracking
user_message = "how do I reset my password?"
payload = {
    "message": user_message,
    "session": session,
    "tracking": tracking,
    "variables": {"userresponse": user_message},
}
response = requests.post(API_ENDPOINT, headers=HEADERS, json=payload, timeout=30)
response.raise_for_status()
data = response.json()
tracking = data["data"]["responses"][0]["tracking"]
print("Bot:", data["variables"]["bot_answer"])
for message in data["data"]["messages"]:
    print("Message:", message["content"])
