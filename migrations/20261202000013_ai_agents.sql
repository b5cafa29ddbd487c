-- AI agents (issue 16): the built-in FAQ bot and OpenAI-compatible models that answer customers first and hand
-- over to people. A number's setting and a routing rule's target name which AI agent; the number's on/off switch
-- becomes that choice.

CREATE TABLE ai_agents (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind               text NOT NULL CHECK (kind IN ('builtin', 'openai_compatible')),
    -- Language tags it speaks; the first is the one it greets and hands over in when the customer's is unknown.
    languages          text[] NOT NULL DEFAULT '{}',
    -- [{"question", "answer", "keywords": [..]}] (checked by the API, src/ai/agent.rs).
    knowledge          jsonb NOT NULL DEFAULT '[]',
    -- Free-text knowledge given to a model with the question/answer pairs.
    instructions       text,
    greeting           text,
    handover_message   text,
    handover_keywords  text[] NOT NULL DEFAULT '{}',
    max_turns          integer NOT NULL DEFAULT 10 CHECK (max_turns BETWEEN 1 AND 100),
    reply_timeout_secs integer NOT NULL DEFAULT 60 CHECK (reply_timeout_secs BETWEEN 5 AND 600),
    -- The built-in bot answers at this confidence or above (0..1).
    threshold          real NOT NULL DEFAULT 0.5 CHECK (threshold BETWEEN 0 AND 1),
    base_url           text,
    model              text,
    -- Encrypted like Auth Tokens (src/secrets.rs); write-only in the API.
    api_key            bytea,
    system_prompt      text,
    temperature        real CHECK (temperature BETWEEN 0 AND 2),
    -- Encrypted JSON object of extra request headers (Azure's api-key is one); the API shows their names only.
    extra_headers      bytea,
    extra_header_names text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Removed agents stay for the conversations and reports that name them.
    deleted_at         timestamptz,
    CHECK (kind = 'builtin' OR (base_url IS NOT NULL AND model IS NOT NULL))
);
CREATE UNIQUE INDEX ai_agents_name_key ON ai_agents (lower(name)) WHERE deleted_at IS NULL;

ALTER TABLE whatsapp_numbers ADD COLUMN ai_agent_id uuid REFERENCES ai_agents (id);
ALTER TABLE routing_rules ADD COLUMN target_ai_agent_id uuid REFERENCES ai_agents (id);

-- Numbers and rules that had "the AI agent" get one built-in agent to point at.
INSERT INTO ai_agents (id, name, kind)
SELECT gen_random_uuid(), 'Assistant', 'builtin'
WHERE EXISTS (SELECT 1 FROM whatsapp_numbers WHERE ai_agent_enabled)
   OR EXISTS (SELECT 1 FROM routing_rules WHERE target_type = 'ai_agent');
UPDATE whatsapp_numbers SET ai_agent_id = (SELECT id FROM ai_agents LIMIT 1) WHERE ai_agent_enabled;
UPDATE routing_rules SET target_ai_agent_id = (SELECT id FROM ai_agents LIMIT 1) WHERE target_type = 'ai_agent';
ALTER TABLE whatsapp_numbers DROP COLUMN ai_agent_enabled;
ALTER TABLE routing_rules ADD CHECK ((target_type = 'ai_agent') = (target_ai_agent_id IS NOT NULL));

-- A conversation the AI agent owns (or owned): which agent, how far it has answered, and the reply under way.
-- Its own table so that the AI's bookkeeping never touches the conversation's row (no live event, no lock taken
-- from the inbound write).
CREATE TABLE ai_sessions (
    conversation_id  uuid PRIMARY KEY REFERENCES conversations (id),
    ai_agent_id      uuid NOT NULL REFERENCES ai_agents (id),
    -- Replies sent (greeting included in the first).
    turns            integer NOT NULL DEFAULT 0,
    greeted          boolean NOT NULL DEFAULT false,
    -- The conversation's last_inbound_at the last reply answered: a later customer message is unanswered.
    answered_through timestamptz,
    -- Set while an ai.reply job is queued or running for it (one at a time per conversation).
    reply_queued_at  timestamptz,
    started_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_ai_idx ON conversations (id) WHERE routing_state = 'ai' AND status <> 'resolved';

-- Every reply or decision an AI agent made: token usage, latency and hand-over reasons (for reports).
CREATE TABLE ai_turns (
    id                uuid PRIMARY KEY,
    conversation_id   uuid NOT NULL REFERENCES conversations (id),
    ai_agent_id       uuid NOT NULL REFERENCES ai_agents (id),
    -- 'reply', 'handover' or 'resolve'.
    outcome           text NOT NULL CHECK (outcome IN ('reply', 'handover', 'resolve')),
    -- For a hand-over: customer_asked, model_handover, low_confidence, max_turns, timeout, model_failed.
    reason            text,
    -- The knowledge pair the built-in bot answered from.
    knowledge_index   integer,
    confidence        real,
    prompt_tokens     integer,
    completion_tokens integer,
    latency_ms        integer NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_turns_conversation_idx ON ai_turns (conversation_id, created_at);
CREATE INDEX ai_turns_agent_idx ON ai_turns (ai_agent_id, created_at);
