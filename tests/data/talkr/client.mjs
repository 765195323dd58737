// A JavaScript fetch client of TALKR's chatbot API conversation cycle (see README.md: not
// TALKR's own script, which the stored copy of the page did not hold). Node.js 18+.
// Usage: node client.mjs [ENDPOINT]   (or TALKR_API_ENDPOINT=...)

const API_ENDPOINT = process.argv[2] || process.env.TALKR_API_ENDPOINT;
const HEADERS = { "Content-Type": "application/json", "X-Talkr-Query": "1" };

async function talk(body) {
  const response = await fetch(API_ENDPOINT, {
    method: "POST",
    headers: HEADERS,
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

// Step 1: initiate the conversation
let data = await talk({});
const session = data.session;
let tracking = data.data.responses[0].tracking;
console.log("Bot:", data.data.messages[0].content);

// Step 2: send the user's message with the session and the tracking
const userMessage = "how do I reset my password?";
data = await talk({
  message: userMessage,
  session: session,
  tracking: tracking,
  variables: { userresponse: userMessage },
});
tracking = data.data.responses[0].tracking;
console.log("Bot:", data.variables.bot_answer);
for (const message of data.data.messages) {
  console.log("Message:", message.content);
}
