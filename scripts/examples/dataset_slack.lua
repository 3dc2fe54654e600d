-- A Slack message for every new version of a dataset in a project, each exactly once (the watch
-- keeps a cursor per collection in the state database; restarts resume from it). The first run
-- only notes what exists.
-- Usage: SLACK_WEBHOOK_URL=https://hooks.slack.com/... RW_PROJECT=entity/project runwatch run dataset_slack.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local url = os.getenv("SLACK_WEBHOOK_URL") or error("set SLACK_WEBHOOK_URL")

watch{project = project, artifacts = {type = "dataset"}, every = "1m", id = "dataset-slack",
  on_artifact_version = function(a)
    local by = a:logged_by()
    actions.slack(url, string.format("New dataset version %s/%s/%s: %d files, %s bytes%s%s", a.entity, a.project, a.name,
      a.file_count or 0, tostring(a.size), by and (", logged by " .. by.name) or "",
      a.description and (" (" .. a.description .. ")") or ""))
  end}
