// Refusals from the kernel: a message a view sent was refused (the kernel validates everything a view sends,
// ttvis_widget/widget/messages.py). Keeps this view's last few and gives the status line's notice while the
// latest one is recent. A refusal carrying another view's request id is not this view's business.

export const SHOW_MS = 8000;

export class Refusals {
  constructor(rid, keep = 20) {
    this.rid = rid;
    this.keep = keep;
    this.items = [];  // [{message, field, reason, at}], oldest first
  }

  /** A {type: "refused", rid, message, field, reason} from the kernel; true when it concerns this view. */
  receive(c, now) {
    if (!c || (c.rid != null && c.rid !== this.rid)) return false;
    this.items.push({ message: c.message ?? null, field: c.field ?? null, reason: String(c.reason ?? "refused"), at: now });
    if (this.items.length > this.keep) this.items.splice(0, this.items.length - this.keep);
    return true;
  }

  /** The status line's notice while the latest refusal is under SHOW_MS old, else "". */
  text(now) {
    const r = this.items[this.items.length - 1];
    return r && now - r.at < SHOW_MS ? `refused by the kernel: ${r.reason}` : "";
  }
}
