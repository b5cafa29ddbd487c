// What the page knows: who is logged in, the directory (numbers, queues, agents), reference lists, the
// current view and conversation; and names for ids.

const S = {
  me: null, role: 'agent', csrf: '',
  dir: { numbers: [], queues: [], agents: [] }, tags: [], templates: [], canned: [],
  view: 'mine', filters: { status: 'unresolved', number_id: '', tag_id: '', q: '' },
  list: [], next: null, current: null, thread: new Map(), mode: 'reply', attachments: [],
  ws: null, retry: 0, page: null, aiAgents: null, quote: null,
};
const isSup = () => S.role === 'supervisor' || S.role === 'admin';
const isAdmin = () => S.role === 'admin';
const agentName = (id) => { const a = S.dir.agents.find((x) => x.id === id); return a ? (a.name || a.email) : 'an agent'; };
const queueName = (id) => { const q = S.dir.queues.find((x) => x.id === id); return q ? q.name : 'a queue'; };
const aiName = (id) => { const a = (S.aiAgents || []).find((x) => x.id === id); return a ? a.name : 'an AI agent'; };
const numberOf = (id) => S.dir.numbers.find((x) => x.id === id);
const contactName = (c) => c.contact.name || c.contact.phone || 'Customer';

export { S, agentName, aiName, contactName, isAdmin, isSup, numberOf, queueName };
