-- Applications own chats; chats own messages. Numbers are per parent, from 1, and
-- never reused; public identifiers are the application token and the numbers.
CREATE TABLE applications (
    id bigserial PRIMARY KEY,
    token text NOT NULL UNIQUE,
    name text NOT NULL,
    chats_count bigint NOT NULL DEFAULT 0,
    -- The last chat number handed out; assigning numbers increments it in the
    -- creating transaction, so numbers are gapless and unique under concurrency.
    last_chat_number bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chats (
    id bigserial PRIMARY KEY,
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    number bigint NOT NULL CHECK (number > 0),
    messages_count bigint NOT NULL DEFAULT 0,
    last_message_number bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, number)
);

CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    chat_id bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    number bigint NOT NULL CHECK (number > 0),
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, number)
);
