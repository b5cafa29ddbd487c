-- What each WhatsApp number does for its customers and agents, and its WhatsApp business profile.
ALTER TABLE whatsapp_numbers
    ADD COLUMN language                       text,
    ADD COLUMN customers_may_send_attachments boolean NOT NULL DEFAULT true,
    ADD COLUMN agents_may_send_attachments    boolean NOT NULL DEFAULT true,
    -- NULL: no greeting (the default).
    ADD COLUMN greeting_text                  text CHECK (length(greeting_text) BETWEEN 1 AND 4096),
    ADD COLUMN csat_enabled                   boolean NOT NULL DEFAULT false,
    ADD COLUMN ai_agent_enabled               boolean NOT NULL DEFAULT false,
    -- display_name, brand, picture_url, description, address, email, industry, websites (checked by the API).
    ADD COLUMN profile                        jsonb NOT NULL DEFAULT '{}';
