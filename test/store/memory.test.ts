import { MemoryStore } from '../../src/store/index.js';
import { runStoreContract } from './contract.js';

runStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  const audit = () => store.unsafeState.audit;
  return {
    store,
    tamper: {
      async setAuditReason(seq, reason) {
        audit().find((r) => r.seq === seq)!.reason = reason;
      },
      async deleteAudit(seq) {
        audit().splice(audit().findIndex((r) => r.seq === seq), 1);
      },
      async swapAuditSeq(a, b) {
        const ra = audit().find((r) => r.seq === a)!;
        const rb = audit().find((r) => r.seq === b)!;
        [ra.seq, rb.seq] = [rb.seq, ra.seq];
        audit().sort((x, y) => x.seq - y.seq);
      },
    },
  };
});
