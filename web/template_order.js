// Lists this pack's example workflows in name order (a, b, c ...: "a" is the one to start with) in the
// template browser. ComfyUI's /workflow_templates returns each pack's files in file-system order (an unsorted
// glob), which the frontend shows as it comes.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

// This file is served at /extensions/<pack folder>/template_order.js; the template list is keyed by that folder.
const PACK = decodeURIComponent(new URL(import.meta.url).pathname.split("/").slice(-2, -1)[0] ?? "");

app.registerExtension({
    name: "ToonTalker.TemplateOrder",
    init() {
        const original = api.getWorkflowTemplates?.bind(api);
        if (!original || api.toontalkerTemplateOrder) return;
        api.toontalkerTemplateOrder = true;
        api.getWorkflowTemplates = async function () {
            const all = await original();
            if (Array.isArray(all?.[PACK])) all[PACK] = [...all[PACK]].sort((a, b) => a.localeCompare(b));
            return all;
        };
    },
});
