// A confirmation before what cannot be undone from this page (removing a member, leaving a private room): a
// modal <dialog> of the page's own (window.confirm cannot be styled, and some browsers suppress it).

const $ = (id) => document.getElementById(id);

/**
 * Ask; resolves true when the user chose `yes`, false on Cancel or Escape.
 * @param {{title: string, text: string, yes: string}} question
 */
export function confirmAction({ title, text, yes }) {
  const dialog = $("confirm-dialog");
  const ok = $("confirm-yes");
  const cancel = $("confirm-no");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  ok.textContent = yes;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener("click", onYes);
      cancel.removeEventListener("click", onNo);
      dialog.removeEventListener("close", onNo);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    ok.addEventListener("click", onYes);
    cancel.addEventListener("click", onNo);
    dialog.addEventListener("close", onNo);
    dialog.showModal();
    cancel.focus(); // the safe answer is the default
  });
}
