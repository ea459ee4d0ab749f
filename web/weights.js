// After Load ToonTalker Checkpoint downloaded a published checkpoint ("download: ..." entry), refresh the
// model lists so that the new file is listed in every loader. The node's own value stays the download entry:
// it now resolves to the installed file, and a workflow saved with it still downloads where the file is missing.
import { app } from "../../scripts/app.js";
import { wrap } from "./util.js";

app.registerExtension({
    name: "ToonTalker.Weights",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name !== "ToonTalkerLoadCheckpoint") return;
        wrap(nodeType.prototype, "onExecuted", (node, [message]) => {
            if (message?.toontalker_downloaded?.length) app.refreshComboInNodes();
        });
    },
});
