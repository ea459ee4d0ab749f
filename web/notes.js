// Warnings from a running ToonTalker node (e.g. "the source looks like a cartoon but is encoded as real")
// as a toast. The node also keeps the line in its progress text (nodes/feedback.py); the server log has it.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EVENT = "toontalker.warning";  // nodes/feedback.py WARNING_EVENT

app.registerExtension({
    name: "ToonTalker.Notes",
    async setup() {
        api.addEventListener(EVENT, ({ detail }) => {
            const message = detail?.message;
            if (!message) return;
            const toast = app.extensionManager?.toast;
            if (toast?.add) toast.add({ severity: "warn", summary: "ToonTalker", detail: message, life: 15000 });
            else console.warn("ToonTalker:", message);
        });
    },
});
