-- The sqlite schema chatdock 0.1.0 made with Base.metadata.create_all, before
-- migrations: the statements create_all emitted (a mock engine, at 0.1.0).
-- Fixed history for tests/test_migrations.py: never regenerate it.

CREATE TABLE settings (
	name VARCHAR(64) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE businesses (
	id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	slug VARCHAR(80) NOT NULL,
	primary_color VARCHAR(7) NOT NULL,
	accent_color VARCHAR(7) NOT NULL,
	welcome_message VARCHAR(500) NOT NULL,
	logo_url VARCHAR(2000),
	require_identification BOOLEAN NOT NULL,
	suspended BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (slug)
);

CREATE TABLE idempotency_records (
	id INTEGER NOT NULL,
	credential VARCHAR(80) NOT NULL,
	"key" VARCHAR(255) NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	status INTEGER NOT NULL,
	body TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (credential, "key")
);

CREATE TABLE users (
	id INTEGER NOT NULL,
	business_id INTEGER NOT NULL,
	email VARCHAR(254) NOT NULL,
	name VARCHAR(200) NOT NULL,
	role VARCHAR(16) NOT NULL,
	password_hash VARCHAR(200),
	created_at DATETIME NOT NULL,
	last_seen_at DATETIME,
	PRIMARY KEY (id),
	UNIQUE (business_id, email),
	FOREIGN KEY(business_id) REFERENCES businesses (id)
);

CREATE INDEX ix_users_business_id ON users (business_id);

CREATE TABLE api_keys (
	id INTEGER NOT NULL,
	business_id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	mode VARCHAR(4) NOT NULL,
	prefix VARCHAR(32) NOT NULL,
	key_hash VARCHAR(200) NOT NULL,
	name VARCHAR(200) NOT NULL,
	scopes JSON NOT NULL,
	allowed_origins JSON NOT NULL,
	allowed_bundle_ids JSON NOT NULL,
	created_at DATETIME NOT NULL,
	last_used_at DATETIME,
	revoked_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(business_id) REFERENCES businesses (id),
	UNIQUE (prefix)
);

CREATE INDEX ix_api_keys_business_id ON api_keys (business_id);

CREATE INDEX ix_api_keys_revoked_at ON api_keys (revoked_at);

CREATE TABLE contacts (
	id INTEGER NOT NULL,
	business_id INTEGER NOT NULL,
	mode VARCHAR(4) NOT NULL,
	visitor_id VARCHAR(128) NOT NULL,
	name VARCHAR(200),
	email VARCHAR(254),
	phone VARCHAR(40),
	custom_fields JSON DEFAULT '{}' NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (business_id, mode, visitor_id),
	FOREIGN KEY(business_id) REFERENCES businesses (id)
);

CREATE TABLE conversations (
	id INTEGER NOT NULL,
	business_id INTEGER NOT NULL,
	mode VARCHAR(4) NOT NULL,
	contact_id INTEGER NOT NULL,
	status VARCHAR(16) NOT NULL,
	channel VARCHAR(16) NOT NULL,
	subject VARCHAR(300),
	assigned_to INTEGER,
	last_message_preview VARCHAR(140),
	unread_count INTEGER DEFAULT '0' NOT NULL,
	resolved_at DATETIME,
	resolved_by VARCHAR(40),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(business_id) REFERENCES businesses (id),
	FOREIGN KEY(contact_id) REFERENCES contacts (id),
	FOREIGN KEY(assigned_to) REFERENCES users (id)
);

CREATE INDEX ix_tickets_created ON conversations (business_id, mode, created_at, id);

CREATE INDEX ix_tickets_updated ON conversations (business_id, mode, updated_at, id);

CREATE INDEX ix_tickets_assignee_created ON conversations (business_id, mode, assigned_to, created_at, id);

CREATE INDEX ix_conversations_contact_status ON conversations (contact_id, status);

CREATE INDEX ix_tickets_status_updated ON conversations (business_id, mode, status, updated_at, id);

CREATE INDEX ix_tickets_status_created ON conversations (business_id, mode, status, created_at, id);

CREATE TABLE ticket_tags (
	conversation_id INTEGER NOT NULL,
	tag VARCHAR(50) NOT NULL,
	PRIMARY KEY (conversation_id, tag),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);

CREATE INDEX ix_ticket_tags_tag ON ticket_tags (tag, conversation_id);

CREATE TABLE chat_sessions (
	id INTEGER NOT NULL,
	business_id INTEGER NOT NULL,
	mode VARCHAR(4) NOT NULL,
	conversation_id INTEGER NOT NULL,
	key_id INTEGER NOT NULL,
	token_hash VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	last_seen_at DATETIME NOT NULL,
	revoked_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(business_id) REFERENCES businesses (id),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id),
	FOREIGN KEY(key_id) REFERENCES api_keys (id),
	UNIQUE (token_hash)
);

CREATE INDEX ix_chat_sessions_key_id ON chat_sessions (key_id);

CREATE INDEX ix_chat_sessions_revoked_at ON chat_sessions (revoked_at);

CREATE INDEX ix_chat_sessions_conversation_id ON chat_sessions (conversation_id);

CREATE TABLE messages (
	id INTEGER NOT NULL,
	conversation_id INTEGER NOT NULL,
	direction VARCHAR(8) NOT NULL,
	type VARCHAR(16) NOT NULL,
	content TEXT NOT NULL,
	sender_role VARCHAR(8) NOT NULL,
	sender_name VARCHAR(200),
	sender_user_id INTEGER,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id),
	FOREIGN KEY(sender_user_id) REFERENCES users (id)
);

CREATE INDEX ix_messages_conversation_id_id ON messages (conversation_id, id);
