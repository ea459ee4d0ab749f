// Lists this pack's example workflows in the template browser with a short title and a one-line description
// each (web/template_index.json, written by tools/make_workflows.py), in their order (a, b, c ...: "a" is the one
// to start with).
// Frontend 1.27 shows a custom pack's templates by file name only (title = the name, description = the name with
// spaces; no index file is read for them), but takes a title and a description for every template of the core
// index. So the pack's templates are moved from the custom list (api.getWorkflowTemplates) into one category
// of the core index (api.getCoreWorkflowTemplates) whose moduleName is this pack's folder: a template of a
// category that is not "default" is still fetched from /api/workflow_templates/<pack>/<name>.json, with its
// thumbnail <name>.jpg, and is still grouped under "Custom Nodes". Without the index the list stays as the
// server gives it, sorted by name.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

// This file is served at /extensions/<pack folder>/template_index.js; the template list is keyed by that folder.
const PACK = decodeURIComponent(new URL(import.meta.url).pathname.split("/").slice(-2, -1)[0] ?? "");
const INDEX_URL = new URL("template_index.json", import.meta.url);

async function loadIndex() {
    try {
        const r = await fetch(INDEX_URL, { cache: "no-store" });
        const index = r.ok ? await r.json() : null;
        return Array.isArray(index?.templates) ? index.templates : null;
    } catch {
        return null;
    }
}

app.registerExtension({
    name: "ToonTalker.TemplateIndex",
    init() {
        const customList = api.getWorkflowTemplates?.bind(api);
        const coreList = api.getCoreWorkflowTemplates?.bind(api);
        if (!customList || api.toontalkerTemplateIndex) return;
        api.toontalkerTemplateIndex = true;
        const index = loadIndex();

        api.getWorkflowTemplates = async function () {
            const all = await customList();
            if (!Array.isArray(all?.[PACK])) return all;
            if (coreList && (await index)) delete all[PACK]; // listed in the core index instead
            else all[PACK] = [...all[PACK]].sort((a, b) => a.localeCompare(b));
            return all;
        };

        if (!coreList) return;
        api.getCoreWorkflowTemplates = async function () {
            const [core, templates, custom] = await Promise.all([coreList(), index, customList()]);
            const files = new Set(custom?.[PACK] ?? []);
            if (!templates || !Array.isArray(core) || !files.size) return core;
            const listed = templates.filter((t) => files.has(t.name)); // only files the server serves
            const extra = [...files].filter((n) => !listed.some((t) => t.name === n)).sort();
            return [...core, {
                moduleName: PACK,
                title: "ToonTalker",
                type: "video",
                templates: [
                    ...listed.map((t) => ({ name: t.name, title: t.title, description: t.description,
                                            mediaType: "image", mediaSubtype: "jpg" })),
                    // a file the index does not know (added by hand): its name, as the frontend would show it
                    ...extra.map((n) => ({ name: n, title: n, description: n, mediaType: "image",
                                           mediaSubtype: "jpg" })),
                ],
            }];
        };
    },
});
