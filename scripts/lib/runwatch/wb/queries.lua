-- The GraphQL documents runwatch sends, byte for byte as the W&B Python SDK (v0.26.1, "classic")
-- prints them on the wire (shared/reference/wandb-public-api.md, Appendix A), so the W&B backend
-- sees the requests it knows. Queries of our own (batched history, partial UpsertBucket, the watch
-- poll) are built in wb/backend.lua.
local fields = require "runwatch.fields"

local Q = {}

-- The SDK's run fragments, made from fields.lua's rows (in the SDK's order, so byte for byte
-- what it prints; tests/lua/test_fields.lua compares them with the reference's Appendix A)
local function fragment(name, which)
  local lines = {"fragment " .. name .. " on Run {"}
  for _, f in ipairs(fields.gql_fields(which)) do
    if f.sub then
      lines[#lines + 1] = "  " .. f.gql .. " {"
      for _, sf in ipairs(f.sub) do lines[#lines + 1] = "    " .. sf end
      lines[#lines + 1] = "  }"
    else
      lines[#lines + 1] = "  " .. f.gql
    end
  end
  return table.concat(lines, "\n") .. "\n}\n"
end
-- the fields the SDK selects beside its fragment (projectId), at a given indentation
local function beside(pad)
  local out = {}
  for _, f in ipairs(fields.FIELDS) do
    if f.sdk == "node" then out[#out + 1] = pad .. f.gql .. "\n" end
  end
  return table.concat(out)
end
Q.LIGHT_FRAGMENT = fragment("LightweightRunFragment", "light")
Q.RUN_FRAGMENT = fragment("RunFragment", "full")

local RUNS_HEAD = [[
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    internalId
    runCount(filters: $filters)
    readOnly
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges {
        node {
%s          ...%s
        }
        cursor
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
}

]]

local RUN_HEAD = [[
query Run($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
%s      ...%s
    }
  }
}

]]

-- Runs (lazy=True, default for api.runs)
Q.RUNS_LAZY = RUNS_HEAD:format(beside("          "), "LightweightRunFragment") .. Q.LIGHT_FRAGMENT
-- Runs (lazy=False)
Q.RUNS_FULL = RUNS_HEAD:format(beside("          "), "RunFragment") .. Q.RUN_FRAGMENT
-- Run (api.run / load(force) / load_full_data; full fragment)
Q.RUN_FULL = RUN_HEAD:format(beside("      "), "RunFragment") .. Q.RUN_FRAGMENT
-- Run (lazy-fragment variant, used by runs from api.runs(lazy=True) on load(force=True))
Q.RUN_LAZY = RUN_HEAD:format(beside("      "), "LightweightRunFragment") .. Q.LIGHT_FRAGMENT

-- RunState (wait_until_finished)
Q.RUN_STATE = [[
query RunState($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      state
    }
  }
}
]]

-- UpsertBucket (Run.update)
Q.UPSERT_RUN = [[
mutation UpsertBucket($id: String!, $description: String, $display_name: String, $notes: String, $tags: [String!], $config: JSONString!, $groupName: String, $jobType: String) {
  upsertBucket(input: {id: $id, description: $description, displayName: $display_name, notes: $notes, tags: $tags, config: $config, groupName: $groupName, jobType: $jobType}) {
    bucket {
      ...RunFragment
    }
  }
}

fragment RunFragment on Run {
  id
  tags
  name
  displayName
  sweepName
  state
  config
  group
  jobType
  commit
  readOnly
  createdAt
  heartbeatAt
  description
  notes
  systemMetrics
  summaryMetrics
  historyLineCount
  user {
    name
    username
  }
  historyKeys
}
]]

-- UpsertBucket (HTTPSummary._write, i.e. run.summary.update())
Q.UPSERT_SUMMARY = [[
mutation UpsertBucket($id: String, $summaryMetrics: JSONString) {
  upsertBucket(input: {id: $id, summaryMetrics: $summaryMetrics}) {
    bucket {
      id
    }
  }
}
]]

-- RunSampledHistory (history(keys=[...]))
Q.SAMPLED_HISTORY = [[
query RunSampledHistory($project: String!, $entity: String!, $name: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      sampledHistory(specs: $specs)
    }
  }
}
]]

-- RunFullHistory (history(keys=None, stream=default))
Q.FULL_HISTORY = [[
query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      history(samples: $samples)
    }
  }
}
]]

-- RunFullHistory (history(keys=None, stream=system))
Q.FULL_EVENTS = [[
query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      events(samples: $samples)
    }
  }
}
]]

-- RunHistoryKeys (lastHistoryStep; called by scan_history)
Q.HISTORY_KEYS = [[
query RunHistoryKeys($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      historyKeys
    }
  }
}
]]

-- HistoryPage (scan_history(keys=None))
Q.HISTORY_PAGE = [[
query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!, $pageSize: Int!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) {
      history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize)
    }
  }
}
]]

-- SampledHistoryPage (scan_history(keys=[...]))
Q.SAMPLED_HISTORY_PAGE = [[
query SampledHistoryPage($entity: String!, $project: String!, $run: String!, $spec: JSONString!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) {
      sampledHistory(specs: [$spec])
    }
  }
}
]]

-- RunFiles (run.files(), run.file(name))
Q.RUN_FILES = [[
query RunFiles($project: String!, $entity: String!, $name: String!, $fileCursor: String, $fileLimit: Int = 50, $fileNames: [String] = [], $upload: Boolean = false, $pattern: String) {
  project(name: $project, entityName: $entity) {
    internalId
    run(name: $name) {
      fileCount
      ...RunFilesFragment
    }
  }
}

fragment RunFilesFragment on Run {
  files(names: $fileNames, after: $fileCursor, first: $fileLimit, pattern: $pattern) {
    edges {
      node {
        id
        name
        url(upload: $upload)
        directUrl
        sizeBytes
        mimetype
        updatedAt
        md5
      }
      cursor
    }
    pageInfo {
      endCursor
      hasNextPage
    }
  }
}
]]

-- GetDefaultEntity (api.default_entity)
Q.DEFAULT_ENTITY = [[
query GetDefaultEntity {
  viewer {
    id
    entity
  }
}
]]

-- viewer check (InternalApi.validate_api_key, run by Api.__init__ via wandb_login._verify_login)
Q.VIEWER_CHECK = [[
{
  viewer {
    id
  }
}
]]

-- ServerInfo (RetryingClient.server_info, lazily)
Q.SERVER_INFO = [[
query ServerInfo {
  serverInfo {
    cliVersionInfo
    latestLocalVersionInfo {
      outOfDate
      latestVersionString
      versionOnThisInstanceString
    }
  }
}
]]

-- NotifyScriptableRunAlert (wandb.alert / run.alert, sent by the run process)
Q.NOTIFY_ALERT = [[
mutation NotifyScriptableRunAlert($entityName: String!, $projectName: String!, $runName: String!, $title: String!, $text: String!, $severity: AlertSeverity = INFO, $waitDuration: Duration) {
  notifyScriptableRunAlert(input: {entityName: $entityName, projectName: $projectName, runName: $runName, title: $title, text: $text, severity: $severity, waitDuration: $waitDuration}) {
    success
  }
}
]]

-- UpsertBucket (Run.create / api.create_run)
Q.CREATE_RUN = [[
mutation UpsertBucket($project: String, $entity: String, $name: String!, $state: String) {
  upsertBucket(input: {modelName: $project, entityName: $entity, name: $name, state: $state}) {
    bucket {
      project {
        name
        entity {
          name
        }
      }
      id
      name
    }
    inserted
  }
}
]]

-- GetViewer (Api.viewer; sent by Api() at construction when WANDB_ERROR_REPORTING is on)
Q.GET_VIEWER = [[
query GetViewer {
  viewer {
    ...UserFragment
  }
}

fragment ApiKeyFragment on ApiKey {
  id
  name
  description
}

fragment UserFragment on User {
  id
  name
  username
  email
  admin
  flags
  entity
  deletedAt
  apiKeys {
    edges {
      node {
        ...ApiKeyFragment
      }
    }
  }
  teams {
    edges {
      node {
        name
      }
    }
  }
}
]]

-- GetSweep (v0.26.1 include_sweeps=True)
Q.GET_SWEEP = [[
query GetSweep($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) {
      ...SweepFragment
    }
  }
}

fragment SweepFragment on Sweep {
  __typename
  id
  name
  displayName
  method
  state
  description
  bestLoss
  config
  createdAt
  updatedAt
  runCount
  runCountExpected
}
]]

-- GetSweepLegacy (fallback when GetSweep errors)
Q.GET_SWEEP_LEGACY = [[
query GetSweepLegacy($name: String!, $project: String, $entity: String) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $name) {
      ...LegacySweepFragment
    }
  }
}

fragment LegacySweepFragment on Sweep {
  __typename
  id
  name
  state
  bestLoss
  config
}
]]

-- Projects (api.projects(entity)); the models field, as the SDK's Projects paginator asks it.
Q.PROJECTS = [[
query Projects($entity: String, $cursor: String, $perPage: Int = 50) {
  models(entityName: $entity, after: $cursor, first: $perPage) {
    edges {
      node {
        ...ProjectFragment
      }
      cursor
    }
    pageInfo {
      endCursor
      hasNextPage
    }
  }
}

fragment ProjectFragment on Project {
  id
  name
  entityName
  createdAt
  isBenchmark
}
]]

-- DeleteRun (Run.delete)
Q.DELETE_RUN = [[
mutation DeleteRun($id: ID!, $deleteArtifacts: Boolean) {
  deleteRun(input: {id: $id, deleteArtifacts: $deleteArtifacts}) {
    clientMutationId
  }
}
]]

-- The fields of Run the server's schema has (introspection; optional fields are asked for only
-- where the schema has them)
Q.RUN_FIELDS = [[
query RunFields {
  __type(name: "Run") {
    fields {
      name
    }
  }
}
]]

return Q
