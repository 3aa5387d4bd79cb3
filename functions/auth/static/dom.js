// Building the page's elements. User data only ever reaches the DOM through textContent / attributes, never
// as HTML.

export const byId = (id) => document.getElementById(id);

export function el(tag, { className, text, testid, attrs } = {}) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  if (testid) element.dataset.testid = testid;
  if (attrs) for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

export function strong(text) {
  const element = document.createElement("strong");
  element.textContent = text;
  return element;
}
