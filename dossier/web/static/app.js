// A refused form is shown again where it stands on its page: bring its reason into view.
document.addEventListener("DOMContentLoaded", () => {
  const refused = document.querySelector("[data-refused]");
  if (refused) refused.scrollIntoView({ block: "center" });
});
