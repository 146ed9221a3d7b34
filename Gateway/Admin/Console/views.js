// Every screen of the console, in navigation order. To add one, write a module that calls registerTab
// (a tab of an organization) or registerScreen (a top-level page), and import it here.

export { orgTabs, screens } from './registry.js';
export { keyFile } from './keys.js';
import './overview.js';
import './keys.js';
import './logs.js';
import './audit.js';
import './customers.js';
import './webhooks.js';
import './tokens.js';
