// What the page knows: who is logged in, the directory (numbers, queues, agents), reference lists, the
// current view and conversation; and names for ids.

import { t } from './i18n.js';

const S = {
  me: null, role: 'agent', csrf: '',
  dir: { numbers: [], queues: [], agents: [] }, tags: [], templates: [], canned: [],
  view: 'mine', filters: { status: 'unresolved', number_id: '', tag_id: '', q: '' },
  list: [], next: null, current: null, thread: new Map(), mode: 'reply', attachments: [],
  ws: null, retry: 0, page: null, aiAgents: null, quote: null,
};
const isSup = () => S.role === 'supervisor' || S.role === 'admin';
const isAdmin = () => S.role === 'admin';
const agentName = (id) => { const a = S.dir.agents.find((x) => x.id === id); return a ? (a.name || a.email) : t('common.an_agent'); };
const queueName = (id) => { const q = S.dir.queues.find((x) => x.id === id); return q ? q.name : t('common.a_queue'); };
const aiName = (id) => { const a = (S.aiAgents || []).find((x) => x.id === id); return a ? a.name : t('common.an_ai_agent'); };
const numberOf = (id) => S.dir.numbers.find((x) => x.id === id);
const contactName = (c) => c.contact.name || c.contact.phone || c.contact.bsuid || t('common.customer');

export { S, agentName, aiName, contactName, isAdmin, isSup, numberOf, queueName };
