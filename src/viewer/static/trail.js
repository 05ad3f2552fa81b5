// Where the trail starts. A retention policy that prunes removes a tenant's oldest events
// and moves its log's minimum index up (`min_index` of `/logs/{tenant}/key`, a multiple of
// 256): the events numbered up to it are gone, so the page says so rather than let the
// table pass for a trail complete from event #1.

import { time } from "./rows.js";

/**
 * Fill `notice` (a labelled region, hidden until needed) for a log whose minimum index is
 * `minIndex`, `oldest` being the oldest event this page may list (or undefined). Text only.
 */
export function showTrailStart(notice, minIndex, oldest) {
  const first = Number(minIndex) + 1;
  if (!Number.isSafeInteger(first) || first <= 1) {
    notice.hidden = true; // never pruned: the table is the trail from event #1
    return;
  }
  const removed = "older events were removed by the retention policy.";
  let text = `This trail starts at event #${first}: ${removed}`;
  if (oldest) {
    const received = time(oldest.received_at);
    // Usually the event it starts at; a viewer token's fixed filter may hide that one.
    text =
      oldest.seq === first
        ? `This trail starts at event #${first} (received ${received}): ${removed}`
        : `${text} The oldest event listed here was received ${received}.`;
  }
  notice.querySelector("p").textContent = text;
  notice.hidden = false;
}
