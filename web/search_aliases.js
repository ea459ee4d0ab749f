// Search aliases for the pack's nodes ("toontalker model" finds ToonTalker Load Checkpoint). Frontend 1.27
// searches only a node's type id and title and has no hook for extra keywords, so this wraps the search
// service's searchNode (used by the node search box and the node library): a node whose alias contains
// every word of the query (as word starts) is added to the results. The aliases come from the pack
// (nodes/__init__.py, served by nodes/routes.py). The search service is reached through the editor's store;
// where a frontend lays it out differently nothing is changed (a console note says so).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const ROUTE = "/toontalker/search_aliases";

const words = (text) => text.toLocaleLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);

// Type ids whose aliases match `query`; `strong`: the query names the pack too ("toontalker model").
export function aliasMatches(aliases, query) {
    const q = words(query);
    const strong = [], weak = [];
    if (!q.length) return { strong, weak };
    for (const [type, list] of Object.entries(aliases)) {
        const hit = list.some((alias) => {
            const a = ["toontalker", ...words(alias)];
            return q.every((w) => a.some((x) => x.startsWith(w)));
        });
        if (!hit) continue;
        (q.some((w) => "toontalker".startsWith(w) && w.length >= 4) ? strong : weak).push(type);
    }
    return { strong, weak };
}

function nodeDefStore() {
    const pinia = document.getElementById("vue-app")?.__vue_app__?.config?.globalProperties?.$pinia;
    return pinia?._s?.get("nodeDef") ?? null;
}

function install(aliases) {
    const service = nodeDefStore()?.nodeSearchService;
    const proto = service && Object.getPrototypeOf(service);
    if (!proto || typeof proto.searchNode !== "function" || !service.nodeFuseSearch?.data) {
        console.info("ToonTalker: this frontend's node search has another layout; search aliases are off");
        return false;
    }
    if (proto.toontalkerAliases) return true;
    const searchNode = proto.searchNode;
    proto.searchNode = function (query, filters = [], options, extra) {
        const found = searchNode.call(this, query, filters, undefined, extra);
        const { strong, weak } = aliasMatches(aliases, query ?? "");
        let results = found;
        if (strong.length || weak.length) {
            const byName = new Map(this.nodeFuseSearch.data.map((d) => [d.name, d]));
            const passes = (d) => d && !found.includes(d) &&
                filters.every(({ filterDef, value }) => filterDef.matches(d, value, { wildcard: "*" }));
            // a query that names the pack ("toontalker model") and found none of its nodes by title leads with
            // the alias hits; otherwise ("toontalker reenact", "load model") they follow the title matches,
            // inside the shown limit
            const ours = found.some((d) => d.name in aliases);
            const first = (ours ? [] : strong).map((t) => byName.get(t)).filter(passes);
            const last = [...(ours ? strong : []), ...weak].map((t) => byName.get(t)).filter(passes);
            const limit = options?.limit ?? Infinity;
            results = [...first, ...found.slice(0, Math.max(0, limit - first.length - last.length)), ...last];
        }
        return options?.limit ? results.slice(0, options.limit) : results;
    };
    proto.toontalkerAliases = true;
    return true;
}

app.registerExtension({
    name: "ToonTalker.SearchAliases",
    async setup() {
        try {
            const res = await api.fetchApi(ROUTE);
            if (!res.ok) return;
            install(await res.json());
        } catch (e) {
            console.info("ToonTalker: search aliases unavailable", e);
        }
    },
});
