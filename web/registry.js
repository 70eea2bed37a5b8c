// The page registry: the extension point for pages added by later issues (lists, journeys,
// data-subject requests, attribution). A page module calls registerPage once at import; app.js
// imports every page module, builds the navigation from the registry (only pages whose scope the
// session's role grants) and routes #/<id>/<rest> to page.render.
//
// A page: { id, title, scope, order, render(root, ctx) } where ctx = { rest, session, every, go }
// and render may return a cleanup function (called when the page is left).
const pages = new Map();

export function registerPage(page) {
  if (pages.has(page.id)) throw new Error('page ' + page.id + ' registered twice');
  pages.set(page.id, page);
}

export function allPages() {
  return [...pages.values()].sort((a, b) => a.order - b.order);
}

export function pageById(id) {
  return pages.get(id);
}
