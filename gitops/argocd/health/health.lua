-- Argo CD health of a Yardarm resource (Dataset, TrainingRun, ModelDeployment, Monitor).
--
-- Reads the same truth as kstatus and `kubectl wait`: status.observedGeneration, and the
-- Ready, Reconciling and Stalled conditions (metav1.Condition shape), plus the phases that
-- mean a resource failed for good. The same script serves all four kinds.
local hs = { status = "Progressing", message = "Waiting for the Yardarm operator" }

local function condition(conditions, type_)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type_ then return c end
  end
  return nil
end

local function is_true(c) return c ~= nil and c.status == "True" end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then return c.reason end
  return fallback
end

if obj.status == nil then
  return hs
end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = status.conditions
local ready = condition(conditions, "Ready")
local stalled = condition(conditions, "Stalled")
local reconciling = condition(conditions, "Reconciling")
local phase = status.phase

if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = text(stalled, "Stalled")
  return hs
end

-- Outcomes that are final or need a person, whatever Ready says.
if (obj.kind == "Dataset" or obj.kind == "TrainingRun") and phase == "Failed" then
  hs.status = "Degraded"
  hs.message = status.message or text(ready, phase)
  return hs
end
if obj.kind == "ModelDeployment" then
  local rolled = condition(conditions, "RolledBack")
  if is_true(rolled) or phase == "RolledBack" or phase == "Failed" then
    -- Git still names the model that was rolled back: surface it until spec.model changes.
    hs.status = "Degraded"
    hs.message = text(rolled, status.message or ("Phase " .. tostring(phase)))
    return hs
  end
end
if obj.kind == "Monitor" and phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = status.message or text(ready, "Model degraded")
  return hs
end

if is_true(ready) then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
if is_true(reconciling) then
  hs.message = text(reconciling, "Reconciling")
  return hs
end
if ready ~= nil then
  hs.message = text(ready, "Not ready")
end
return hs
