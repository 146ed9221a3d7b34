// The tab and screen registries. A tab: {id, label, order, visible(), render(panel, ctx), actions?(ctx),
// detail?(container, ctx, rest)}; `detail` draws sub-pages such as #/orgs/{org}/keys/{id}. A screen:
// {id, label, inNav, visible(), render(container, ctx)} at #/{id}. `ctx` has the route, the organization
// (for tabs), reload() and reloadOrgs().

export const orgTabs = [];
export const screens = [];

export function registerTab(tab) {
  orgTabs.push(tab);
  orgTabs.sort((a, b) => a.order - b.order);
}

export function registerScreen(screen) {
  screens.push(screen);
}
